"""Reps an operator paused: their events wait (parked as "paused") until the rep is resumed."""

from __future__ import annotations

import time

import orjson
from redis.asyncio import Redis

from store import keys

PAUSED_REASON = "paused"


class Pauses:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def pause(self, team_id: str, rep_email: str, by: str) -> bool:
        """False when the rep was already paused."""
        entry = orjson.dumps({"by": by, "at": int(time.time())}).decode()
        return bool(await self._redis.hsetnx(keys.PAUSED, keys.rep_member(team_id, rep_email), entry))

    async def resume(self, team_id: str, rep_email: str) -> bool:
        return bool(await self._redis.hdel(keys.PAUSED, keys.rep_member(team_id, rep_email)))

    async def is_paused(self, team_id: str, rep_email: str) -> bool:
        return bool(await self._redis.hexists(keys.PAUSED, keys.rep_member(team_id, rep_email)))

    async def paused(self, limit: int | None = None) -> dict[tuple[str, str], dict[str, object]]:
        """Paused reps (at most `limit` of them, when given: HSCAN stops once it has that many)."""
        found: dict[tuple[str, str], dict[str, object]] = {}
        async for member, value in self._redis.hscan_iter(keys.PAUSED, count=limit or 500):
            found[keys.split_member(member.decode())] = orjson.loads(value)
            if limit is not None and len(found) >= limit:
                break
        return found

    async def among(self, reps: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these reps are paused (one read for a page of reps)."""
        if not reps:
            return set()
        raw = await self._redis.hmget(keys.PAUSED, [keys.rep_member(t, r) for t, r in reps])
        return {rep for rep, value in zip(reps, raw, strict=True) if value is not None}

    async def count(self) -> int:
        return int(await self._redis.hlen(keys.PAUSED))
