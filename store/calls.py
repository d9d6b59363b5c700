"""The exactly-once record of each Nooks call: call_id → Outreach call id, and whether all is done."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from store import keys

# Kept long enough to outlive any redelivery of the same call by Nooks.
CALL_STATE_TTL_SECONDS = 90 * 24 * 3600


@dataclass(frozen=True)
class CallState:
    outreach_call_id: int | None
    done: bool


class CallLedger:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def state(self, team_id: str, call_id: str) -> CallState:
        raw = await self._redis.hmget(keys.call_state(team_id, call_id), ["outreach_call_id", "done"])
        return CallState(outreach_call_id=int(raw[0]) if raw[0] else None, done=raw[1] == b"1")

    async def record_call(self, team_id: str, call_id: str, outreach_call_id: int) -> None:
        key = keys.call_state(team_id, call_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "outreach_call_id", str(outreach_call_id))
            pipe.expire(key, CALL_STATE_TTL_SECONDS)
            await pipe.execute()

    async def complete(self, team_id: str, call_id: str, event_id: str) -> None:
        """Mark the call done, drop its event (it is in Outreach now) and count it: one round trip."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.call_state(team_id, call_id), "done", "1")
            pipe.delete(keys.event(event_id))
            pipe.hincrby(keys.STATS, "calls_logged", 1)
            await pipe.execute()
