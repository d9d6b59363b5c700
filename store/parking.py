"""Events waiting for their rep to connect, reconnect or be mapped."""

from __future__ import annotations

import time
from collections import Counter

from redis.asyncio import Redis

from schemas.ops import ParkedRep
from store import keys
from store.history import EventHistory
from store.pages import zpage
from store.queue import EventQueue

SAMPLE = 500
EVENTS_SHOWN = 20


class ParkingLot:
    def __init__(self, redis: Redis, queue: EventQueue, history: EventHistory) -> None:
        self._redis = redis
        self._queue = queue
        self._history = history

    async def park(self, team_id: str, rep_email: str, event_id: str, reason: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.parked(team_id, rep_email), event_id, reason)
            pipe.zadd(keys.PARKED_REPS, {keys.rep_member(team_id, rep_email): 0})
            # The first parking counts for retention: a release that parks the event again keeps it.
            pipe.zadd(keys.PARKED_SINCE, {_since_member(team_id, rep_email, event_id): int(time.time())}, nx=True)
            await pipe.execute()

    async def count(self, team_id: str, rep_email: str) -> int:
        return int(await self._redis.hlen(keys.parked(team_id, rep_email)))

    async def parked_reps(self) -> list[tuple[str, str]]:
        """Every rep with parked events, by team then email: for crons, never for a page."""
        return [keys.split_member(m.decode()) for m in await self._redis.zrange(keys.PARKED_REPS, 0, -1)]

    async def page(self, offset: int, limit: int) -> tuple[list[tuple[str, str]], int]:
        """A page of reps with parked events (by team then email) and how many there are."""
        members, total = await zpage(self._redis, keys.PARKED_REPS, offset, limit)
        return [keys.split_member(member) for member in members], total

    async def figures(self) -> tuple[int, int]:
        """(events parked, reps with parked events), from the retention index kept with every parking."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.PARKED_SINCE)
            pipe.zcard(keys.PARKED_REPS)
            events, reps = await pipe.execute()
        return int(events), int(reps)

    async def ensure_indexed(self) -> int:
        """Fold the set of parked reps kept before this index existed (an upgrade) into it, once; the events
        of those reps get their retention entries from the next expiry run (run at every worker start)."""
        members = await self._redis.smembers(keys.LEGACY_PARKED_REPS)
        if not members:
            return 0
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.PARKED_REPS, dict.fromkeys(members, 0))
            pipe.delete(keys.LEGACY_PARKED_REPS)
            await pipe.execute()
        return len(members)

    async def groups(self, reps: list[tuple[str, str]]) -> list[ParkedRep]:
        """Per rep: how many events wait and why. Reasons are counted exactly up to SAMPLE events, else in a
        sample of SAMPLE (one rep's events nearly always wait for the same thing)."""
        if not reps:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for team_id, rep_email in reps:
                pipe.hlen(keys.parked(team_id, rep_email))
                pipe.hrandfield(keys.parked(team_id, rep_email), SAMPLE, withvalues=True)
            replies = await pipe.execute()
        groups = []
        for index, (team_id, rep_email) in enumerate(reps):
            total, sample = int(replies[2 * index]), replies[2 * index + 1] or []
            reasons = Counter(value.decode() for value in sample[1::2])
            event_ids = sorted(field.decode() for field in sample[0::2])[:EVENTS_SHOWN]
            groups.append(ParkedRep(team_id=team_id, rep_email=rep_email, count=total, reasons=dict(reasons),
                                    sampled=total > SAMPLE, event_ids=event_ids))
        return groups

    async def parked(self, team_id: str, rep_email: str) -> dict[str, str]:
        raw = await self._redis.hgetall(keys.parked(team_id, rep_email))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def expire(self, before: float, batch: int = 500) -> int:
        """Drop events parked before `before` (epoch seconds) with their stored bodies; returns how many.
        Entries parked before this index existed are given one, from now."""
        await self._index_unindexed()
        expired = 0
        while True:
            due = await self._redis.zrangebyscore(keys.PARKED_SINCE, "-inf", before, start=0, num=batch)
            for member in due:
                team_id, rep_email, event_id = member.decode().split("\t", 2)
                # HDEL decides who owns the event: a release that took it first keeps it.
                if await self._redis.hdel(keys.parked(team_id, rep_email), event_id):
                    await self._redis.delete(keys.event(event_id))
                    expired += 1
                await self._redis.zrem(keys.PARKED_SINCE, member)
                if not await self._redis.exists(keys.parked(team_id, rep_email)):
                    await self._redis.zrem(keys.PARKED_REPS, keys.rep_member(team_id, rep_email))
            if len(due) < batch:
                break
        return expired

    async def _index_unindexed(self) -> None:
        now = int(time.time())
        for team_id, rep_email in await self.parked_reps():
            async for event_id, _ in self._redis.hscan_iter(keys.parked(team_id, rep_email), count=500):
                member = _since_member(team_id, rep_email, event_id.decode())
                await self._redis.zadd(keys.PARKED_SINCE, {member: now}, nx=True)

    async def release(self, team_id: str, rep_email: str) -> int:
        """Queue every parked event of the rep again; the worker re-checks the rep and may park again."""
        released = 0
        for event_id in await self.parked(team_id, rep_email):
            # Remove first: if the worker parks it again, that new entry must survive.
            if await self._redis.hdel(keys.parked(team_id, rep_email), event_id):
                await self._redis.zrem(keys.PARKED_SINCE, _since_member(team_id, rep_email, event_id))
                if await self._queue.requeue(event_id):
                    released += 1
                    self._history.record(event_id, "released")
        if not await self._redis.exists(keys.parked(team_id, rep_email)):
            await self._redis.zrem(keys.PARKED_REPS, keys.rep_member(team_id, rep_email))
        return released


def _since_member(team_id: str, rep_email: str, event_id: str) -> str:
    return f"{team_id}\t{rep_email}\t{event_id}"
