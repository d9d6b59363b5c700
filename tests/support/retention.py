"""Everything Redis holds, as text, to prove no Outreach record data was kept (the data rule)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis


async def dump_redis(redis: Redis) -> str:
    out = []
    for key in await redis.keys("*"):
        kind = (await redis.type(key)).decode()
        value: Any
        if kind == "string":
            value = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = kind
        out.append(f"{key!r}={value!r}")
    return "\n".join(out)
