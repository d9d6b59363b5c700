"""The exactly-once record of each Nooks call: call_id → Outreach call id, and whether all is done.

A `log_call` job touches Redis three times: `begin` (which also reads the queued event when the job names its
call) and `complete` are one Lua script each (one command to pack and one reply to parse, instead of a pipeline
of six or seven: docs/tuning.md), and `record_call` is a single HSET.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from schemas.connection import ConnectionStatus
from store import keys
from store.locks import Lock

# Kept long enough to outlive any redelivery of the same call by Nooks.
CALL_STATE_TTL_SECONDS = 90 * 24 * 3600

# Take the call's lock, count the attempt, then read (under the lock) the call's ledger entry, the rep's connection
# (status, sealed tokens) and mapping, and the queued event if asked. KEYS: lock, call state, connection, mapping,
# and optionally the event. ARGV: lock token, lock ttl (ms), state ttl (s), rep email.
_BEGIN = """
local locked = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
local state = redis.call('HMGET', KEYS[2], 'outreach_call_id', 'done')
local attempts = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
local connection = redis.call('HMGET', KEYS[3], 'status', 'tokens')
local event = false
if #KEYS >= 5 then event = redis.call('GET', KEYS[5]) end
return {locked, state[1], state[2], attempts, connection[1], connection[2], redis.call('HGET', KEYS[4], ARGV[4]),
        event}
"""

# Mark the call done, drop its event (it is in Outreach now), count it, and release the lock if still ours
# (after `done`, so the next holder sees it). KEYS: call state, event, stats, lock. ARGV: lock token.
_COMPLETE = """
redis.call('HSET', KEYS[1], 'done', '1')
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[3], 'calls_logged', 1)
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
return 1
"""


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
    event_body: bytes | None = None  # the queued event, when `begin` was asked for it (None: gone, or not asked)


class CallLedger:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._begin = redis.register_script(_BEGIN)
        self._complete = redis.register_script(_COMPLETE)

    async def begin(self, team_id: str, call_id: str, rep_email: str, lock: Lock, *, event_id: str | None = None
                    ) -> JobStart:
        """Take the call's lock, count the attempt and read what the job needs (with `event_id`, the queued event
        too): one round trip."""
        call_keys = [lock.key, keys.call_state(team_id, call_id), keys.connection(team_id, rep_email),
                     keys.mapping(team_id)]
        reply = await self._begin(
            keys=call_keys if event_id is None else [*call_keys, keys.event(event_id)],
            args=[lock.token, lock.ttl_ms, CALL_STATE_TTL_SECONDS, rep_email],
        )
        locked, call_id_raw, done, attempts, status, sealed, mapped, event = reply  # Lua's false arrives as None
        return JobStart(
            locked=locked == 1,
            state=CallState(outreach_call_id=int(call_id_raw) if call_id_raw else None, done=done == b"1",
                            first_attempt=attempts == 1),
            status=ConnectionStatus(status.decode()) if status else ConnectionStatus.NOT_CONNECTED,
            outreach_user_id=int(mapped) if mapped else None,
            sealed_tokens=sealed,
            event_body=event,
        )

    async def record_call(self, team_id: str, call_id: str, outreach_call_id: int) -> None:
        # `begin` already gave the entry its expiry.
        await self._redis.hset(keys.call_state(team_id, call_id), "outreach_call_id", str(outreach_call_id))

    async def complete(self, team_id: str, call_id: str, event_id: str, lock: Lock) -> None:
        """Mark the call done, drop its event, count it and release the call's lock: one round trip."""
        await self._complete(
            keys=[keys.call_state(team_id, call_id), keys.event(event_id), keys.STATS, lock.key],
            args=[lock.token],
        )
