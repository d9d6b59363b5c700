"""The durable queue: Nooks events stored once, with their arq job, in one Redis round trip.

arq's stock `enqueue_job` costs several round trips (WATCH, EXISTS, MULTI); ingress instead runs one Lua
script that dedupes on the `webhook-id`, stores the event and writes an arq-compatible job, atomically. Jobs
are JSON (never pickle) and carry only the event id, so arq's logs never show event content.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from store import keys

LOG_CALL = "log_call"
SEEN_TTL_SECONDS = 7 * 24 * 3600

_ENQUEUE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) == false then return 0 end
if ARGV[5] == '' then return 1 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[5], KEYS[6])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[5])
return 1
"""

_REQUEUE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


def job_payload(function: str, args: list[Any], enqueue_ms: int) -> bytes:
    """A job exactly as arq's own serializer would write it, in JSON."""
    return orjson.dumps({"t": None, "f": function, "a": args, "k": {}, "et": enqueue_ms})


def serialize(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


def deserialize(raw: bytes) -> dict[str, Any]:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("job is not a JSON object")
    return value


class EventQueue:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._enqueue = redis.register_script(_ENQUEUE)
        self._requeue = redis.register_script(_REQUEUE)

    async def accept(self, event_id: str, body: bytes, *, queue: bool = True) -> bool:
        """Store and queue a new event; False when this `webhook-id` was seen before.

        With `queue=False` only the dedupe key is written (events we record as ignored).
        """
        now_ms = int(time.time() * 1000)
        job_id = event_id if queue else ""
        result = await self._enqueue(
            keys=[keys.seen_event(event_id), keys.event(event_id), keys.ARQ_JOB + event_id, keys.QUEUE,
                  keys.ARQ_RESULT + event_id, keys.ARQ_RETRY + event_id],
            args=[body, job_payload(LOG_CALL, [event_id], now_ms), now_ms, SEEN_TTL_SECONDS, job_id],
        )
        return bool(result)

    async def requeue(self, event_id: str, *, delay_ms: int = 0) -> bool:
        """Queue a stored event again (parked or dead-lettered). A fresh job id keeps arq's bookkeeping of
        the earlier run from touching the new one."""
        now_ms = int(time.time() * 1000)
        job_id = f"{event_id}@{now_ms}"
        result = await self._requeue(
            keys=[keys.ARQ_JOB + job_id, keys.QUEUE, keys.event(event_id)],
            args=[job_payload(LOG_CALL, [event_id], now_ms), now_ms + delay_ms, job_id],
        )
        return bool(result)

    async def event_body(self, event_id: str) -> bytes | None:
        raw: bytes | None = await self._redis.get(keys.event(event_id))
        return raw

    async def forget_event(self, event_id: str) -> None:
        await self._redis.delete(keys.event(event_id))

    async def depth(self) -> int:
        return int(await self._redis.zcard(keys.QUEUE))

    async def record_ignored(self, event_id: str, event_type: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.lpush(keys.IGNORED, orjson.dumps({"event_id": event_id, "type": event_type[:100],
                                                   "at": int(time.time())}))
            pipe.ltrim(keys.IGNORED, 0, 999)
            pipe.hincrby(keys.STATS, "events_ignored", 1)
            await pipe.execute()


async def count(redis: Redis, stat: str, amount: int = 1) -> None:
    """Bump a counter shared by every process (read by /metrics and /ops)."""
    await redis.hincrby(keys.STATS, stat, amount)


async def stats(redis: Redis) -> dict[str, int]:
    raw = await redis.hgetall(keys.STATS)
    return {k.decode(): int(v) for k, v in raw.items()}
