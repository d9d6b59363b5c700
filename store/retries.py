"""Events waiting for another attempt: when, which attempt comes next, and why the last one failed.

Written when a job schedules a retry and cleared when the event leaves that state (logged, parked,
dead-lettered). A first attempt that succeeds, the usual case, never touches it.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from schemas.ops import EventIds, Retrying
from store import keys

ENTRY_TTL_SECONDS = 3600  # far beyond the longest backoff: an entry nobody cleared (a crash) goes away


class RetryBoard:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def scheduled(self, event_id: str, ids: EventIds | None, attempt: int, reason: str, delay: float) -> None:
        next_at = time.time() + delay
        entry = Retrying(event_id=event_id, call_id=ids.call_id if ids else None, team_id=ids.team_id if ids else None,
                         rep_email=ids.rep_email if ids else None, attempt=attempt + 1, reason=reason[:300],
                         next_at=next_at)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.retry(event_id), entry.model_dump_json(), ex=ENTRY_TTL_SECONDS)
            pipe.zadd(keys.RETRIES, {event_id: next_at})
            await pipe.execute()

    async def cleared(self, event_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.RETRIES, event_id)
            pipe.delete(keys.retry(event_id))
            await pipe.execute()

    async def count(self) -> int:
        return int(await self._redis.zcard(keys.RETRIES))

    async def page(self, offset: int = 0, limit: int = 50) -> list[Retrying]:
        """Soonest first. Entries that expired without being cleared are dropped from the index as they are met."""
        ids = await self._redis.zrange(keys.RETRIES, offset, offset + limit - 1)
        if not ids:
            return []
        raw = await self._redis.mget([keys.retry(i.decode()) for i in ids])
        stale = [event_id for event_id, value in zip(ids, raw, strict=True) if value is None]
        if stale:
            await self._redis.zrem(keys.RETRIES, *stale)
        return [Retrying.model_validate_json(value) for value in raw if value is not None]
