"""Events waiting for their rep to connect, reconnect or be mapped."""

from __future__ import annotations

from redis.asyncio import Redis

from store import keys
from store.queue import EventQueue


class ParkingLot:
    def __init__(self, redis: Redis, queue: EventQueue) -> None:
        self._redis = redis
        self._queue = queue

    async def park(self, team_id: str, rep_email: str, event_id: str, reason: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.parked(team_id, rep_email), event_id, reason)
            pipe.sadd(keys.PARKED_REPS, keys.rep_member(team_id, rep_email))
            pipe.hincrby(keys.STATS, "events_parked", 1)
            await pipe.execute()

    async def count(self, team_id: str, rep_email: str) -> int:
        return int(await self._redis.hlen(keys.parked(team_id, rep_email)))

    async def parked_reps(self) -> list[tuple[str, str]]:
        members = await self._redis.smembers(keys.PARKED_REPS)
        return sorted(keys.split_member(m.decode()) for m in members)

    async def parked(self, team_id: str, rep_email: str) -> dict[str, str]:
        raw = await self._redis.hgetall(keys.parked(team_id, rep_email))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def release(self, team_id: str, rep_email: str) -> int:
        """Queue every parked event of the rep again; the worker re-checks the rep and may park again."""
        released = 0
        for event_id in await self.parked(team_id, rep_email):
            # Remove first: if the worker parks it again, that new entry must survive.
            if await self._redis.hdel(keys.parked(team_id, rep_email), event_id):
                if await self._queue.requeue(event_id):
                    released += 1
        if not await self._redis.exists(keys.parked(team_id, rep_email)):
            await self._redis.srem(keys.PARKED_REPS, keys.rep_member(team_id, rep_email))
        return released
