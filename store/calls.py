"""The exactly-once record of each Nooks call: call_id → Outreach call id, and whether all is done.

A `log_call` job touches Redis three times: `claim` (which also reads the queued event when the job names its
call) and `complete` are one Lua script each (one command to pack and one reply to parse, instead of a pipeline
of six or seven: docs/tuning.md), and `record_call` is a single HSET.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from schemas.connection import ConnectionStatus
from store import keys
from store.locks import Lock

# Kept long enough to outlive any redelivery of the same call by Nooks.
CALL_STATE_TTL_SECONDS = 90 * 24 * 3600

# Take the call's lock, count the attempt if the lock was ours (waiting for another holder is no attempt), then
# read (under the lock) the call's ledger entry, the rep's connection (status, sealed tokens), mapping and whether
# an operator paused them, and the queued event if asked. KEYS: lock, call state, connection, mapping, paused reps,
# and optionally the event. ARGV: lock token, lock ttl (ms), state ttl (s), rep email, rep member ("team\trep").
_BEGIN = """
local locked = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
local state = redis.call('HMGET', KEYS[2], 'outreach_call_id', 'done', 'attempts')
local attempts = tonumber(state[3] or '0')
if locked == 1 then
  attempts = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
local connection = redis.call('HMGET', KEYS[3], 'status', 'tokens')
local event = false
if #KEYS >= 6 then event = redis.call('GET', KEYS[6]) end
return {locked, state[1], state[2], attempts, connection[1], connection[2], redis.call('HGET', KEYS[4], ARGV[4]),
        event, redis.call('HEXISTS', KEYS[5], ARGV[5])}
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


class CallClaim:
    """One job's hold on a call: what it needs to know before touching Outreach, read in one round trip under
    the call's lock (when `locked`; another worker holds the call otherwise), and the two writes it may make.
    Made by `CallLedger.claim`, which releases the lock on the way out unless `complete` already did."""

    def __init__(self, ledger: CallLedger, ids: tuple[str, str, str], lock: Lock, reply: list[Any]) -> None:
        self.ids = ids  # team id, call id, rep email
        self._ledger, self._lock, self._completed = ledger, lock, False
        locked, call_id_raw, done, attempts, status, sealed, mapped, event, paused = reply  # Lua's false: None
        self.locked: bool = locked == 1
        self.outreach_call_id: int | None = int(call_id_raw) if call_id_raw else None
        self.done: bool = done == b"1"
        # No job ever began on this call_id before, so none can have written it to Outreach.
        self.first_attempt: bool = self.locked and attempts == 1
        # Jobs that held this call's lock, this one included when it holds it (waits for another holder not counted).
        self.attempts: int = int(attempts)
        self.status = ConnectionStatus(status.decode()) if status else ConnectionStatus.NOT_CONNECTED
        self.outreach_user_id: int | None = int(mapped) if mapped else None
        self.sealed_tokens: bytes | None = sealed  # the rep's tokens as stored (encrypted): saves a round trip
        self.event_body: bytes | None = event  # the queued event, when the claim was asked for it
        self.paused: bool = paused == 1  # an operator paused the rep: the event waits, parked, until resumed

    async def record_call(self, outreach_call_id: int) -> None:
        """The Outreach call exists: remember its id at once (before anything else can fail)."""
        await self._ledger.record_call(self.ids[0], self.ids[1], outreach_call_id)

    async def complete(self, event_id: str) -> None:
        """Mark the call done, drop its event, count it and release the lock: one round trip."""
        team_id, call_id, _ = self.ids
        await self._ledger.complete_script(
            keys=[keys.call_state(team_id, call_id), keys.event(event_id), keys.STATS, self._lock.key],
            args=[self._lock.token],
        )
        self._completed = True

    async def _release(self) -> None:
        if self.locked and not self._completed:
            await self._lock.release()


class CallLedger:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._begin = redis.register_script(_BEGIN)
        self.complete_script = redis.register_script(_COMPLETE)

    @asynccontextmanager
    async def claim(self, team_id: str, call_id: str, rep_email: str, *, lock_ms: int,
                    event_id: str | None = None) -> AsyncIterator[CallClaim]:
        """Take the call's lock (for at most `lock_ms`), count the attempt and read what the job needs (with
        `event_id`, the queued event too): one round trip. The lock is released when the block ends, however it
        ends (`complete` releases it itself)."""
        lock = Lock(self._redis, keys.call_lock(team_id, call_id), lock_ms)
        call_keys = [lock.key, keys.call_state(team_id, call_id), keys.connection(team_id, rep_email),
                     keys.mapping(team_id), keys.PAUSED]
        reply = await self._begin(
            keys=call_keys if event_id is None else [*call_keys, keys.event(event_id)],
            args=[lock.token, lock.ttl_ms, CALL_STATE_TTL_SECONDS, rep_email, keys.rep_member(team_id, rep_email)],
        )
        claim = CallClaim(self, (team_id, call_id, rep_email), lock, reply)
        try:
            yield claim
        finally:
            await claim._release()

    async def record_call(self, team_id: str, call_id: str, outreach_call_id: int) -> None:
        # `claim` already gave the entry its expiry.
        await self._redis.hset(keys.call_state(team_id, call_id), "outreach_call_id", str(outreach_call_id))
