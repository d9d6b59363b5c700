"""Events that cannot be logged without an operator, and events logged with a caveat (flags).

Entries hold ids and reasons only: never a value read from Outreach.
"""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.ops import DeadLetter, Flag
from store import keys
from store.queue import EventQueue


class DeadLetters:
    def __init__(self, redis: Redis, queue: EventQueue) -> None:
        self._redis = redis
        self._queue = queue

    async def add(self, letter: DeadLetter) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.DEAD_LETTERS, letter.event_id, letter.model_dump_json())
            pipe.hincrby(keys.STATS, "events_dead_lettered", 1)
            await pipe.execute()

    async def all(self) -> list[DeadLetter]:
        raw = await self._redis.hgetall(keys.DEAD_LETTERS)
        letters = [DeadLetter.model_validate_json(v) for v in raw.values()]
        return sorted(letters, key=lambda letter: letter.dead_at)

    async def retry(self, event_id: str) -> bool:
        """Queue a dead letter again; False when there is no such dead letter."""
        if not await self._redis.hdel(keys.DEAD_LETTERS, event_id):
            return False
        return await self._queue.requeue(event_id)

    async def flag(self, flag: Flag) -> None:
        await self._redis.hset(keys.FLAGGED, flag.event_id, flag.model_dump_json())

    async def flags(self) -> list[Flag]:
        raw = await self._redis.hgetall(keys.FLAGGED)
        return sorted((Flag.model_validate_json(v) for v in raw.values()), key=lambda f: f.at)
