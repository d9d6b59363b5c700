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

    async def paused(self) -> dict[tuple[str, str], dict[str, object]]:
        raw = await self._redis.hgetall(keys.PAUSED)
        return {keys.split_member(member.decode()): orjson.loads(value) for member, value in raw.items()}
