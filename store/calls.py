"""The exactly-once record of each Nooks call: call_id → Outreach call id, and whether all is done."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from schemas.connection import ConnectionStatus
from store import keys
from store.locks import Lock

# Kept long enough to outlive any redelivery of the same call by Nooks.
CALL_STATE_TTL_SECONDS = 90 * 24 * 3600


@dataclass(frozen=True)
class CallState:
    outreach_call_id: int | None
    done: bool
    first_attempt: bool  # no job ever began on this call_id before, so none can have written it to Outreach


@dataclass(frozen=True)
class JobStart:
    """What a `log_call` job needs to know before touching Outreach, read in one round trip."""

    locked: bool
    state: CallState
    status: ConnectionStatus
    outreach_user_id: int | None
    sealed_tokens: bytes | None  # the rep's tokens as stored (encrypted): read here to save a round trip


class CallLedger:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def begin(self, team_id: str, call_id: str, rep_email: str, lock: Lock) -> JobStart:
        """Take the call's lock, count the attempt and read the call's ledger entry, the rep's connection (status,
        sealed tokens) and mapping: the lock comes first in the pipeline, so what follows is read under it."""
        state_key = keys.call_state(team_id, call_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            lock.acquire_in(pipe)
            pipe.hmget(state_key, ["outreach_call_id", "done"])
            pipe.hincrby(state_key, "attempts", 1)
            pipe.expire(state_key, CALL_STATE_TTL_SECONDS)
            pipe.hmget(keys.connection(team_id, rep_email), ["status", "tokens"])
            pipe.hget(keys.mapping(team_id), rep_email)
            locked, (call_id_raw, done), attempts, _, (status, sealed), mapped = await pipe.execute()
        return JobStart(
            locked=bool(locked),
            state=CallState(outreach_call_id=int(call_id_raw) if call_id_raw else None, done=done == b"1",
                            first_attempt=attempts == 1),
            status=ConnectionStatus(status.decode()) if status else ConnectionStatus.NOT_CONNECTED,
            outreach_user_id=int(mapped) if mapped else None,
            sealed_tokens=sealed,
        )

    async def record_call(self, team_id: str, call_id: str, outreach_call_id: int) -> None:
        key = keys.call_state(team_id, call_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "outreach_call_id", str(outreach_call_id))
            pipe.expire(key, CALL_STATE_TTL_SECONDS)
            await pipe.execute()

    async def complete(self, team_id: str, call_id: str, event_id: str, lock: Lock) -> None:
        """Mark the call done, drop its event (it is in Outreach now), count it and release the call's lock
        (after `done`, so the next holder sees it): one round trip."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.call_state(team_id, call_id), "done", "1")
            pipe.delete(keys.event(event_id))
            pipe.hincrby(keys.STATS, "calls_logged", 1)
            lock.release_in(pipe)
            await pipe.execute()
