"""A page of a sorted set and how many members it has, in one round trip: what /ops lists are read with."""

from __future__ import annotations

from redis.asyncio import Redis


async def zpage(redis: Redis, key: str, offset: int, limit: int) -> tuple[list[str], int]:
    """Members `offset` to `offset + limit` (in the set's order) and the set's size."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrange(key, offset, offset + limit - 1)
        pipe.zcard(key)
        members, total = await pipe.execute()
    return [member.decode() for member in members], int(total)
