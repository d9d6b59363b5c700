"""The exactly-once record of each Nooks call (the ledger): which steps are done (each step's marker: ids only),
whether the whole call is done, and the call's attempt count, the one that backoff and giving up read.

`no:call:{team}:{call_id}` is a hash: `attempts`, `done`, and `step:<name>` per step done (workers/pipeline.py).
A `log_call` job touches it twice on the usual path: `claim` (which also reads the rep's connection and, when the
job names its call, the queued event) and `complete`, one Lua script each (docs/tuning.md). A step's marker is
written before the next step acts (`flush`) or with the completion: a worker killed in between leaves the step to
its done-check in Outreach.
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
MARK_PREFIX = "step:"

# Take the call's lock; if it is ours, note whether any attempt held it before (the ledger exists) and count
# this attempt (waiting for another holder is no attempt). Then read, under the lock, the ledger, the rep's
# connection (status, sealed tokens), mapping and whether an operator paused them, and the queued event if asked.
# KEYS: lock, ledger, connection, mapping, paused reps, and optionally the event. ARGV: lock token, lock ttl (ms),
# ledger ttl (s), rep email, rep member ("team\trep").
_CLAIM = """
local locked = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
local fresh = 0
if locked == 1 then
  fresh = 1 - redis.call('EXISTS', KEYS[2])
  redis.call('HINCRBY', KEYS[2], 'attempts', 1)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
local connection = redis.call('HMGET', KEYS[3], 'status', 'tokens')
local event = false
if #KEYS >= 6 then event = redis.call('GET', KEYS[6]) end
return {locked, fresh, redis.call('HGETALL', KEYS[2]), connection[1], connection[2],
        redis.call('HGET', KEYS[4], ARGV[4]), event, redis.call('HEXISTS', KEYS[5], ARGV[5])}
"""

# Mark the call done with the markers not yet written, drop its event (it is in Outreach now), and release the
# lock if still ours (after `done`, so the next holder sees it). KEYS: ledger, event, lock. ARGV: lock token, then
# marker fields and values.
_COMPLETE = """
redis.call('HSET', KEYS[1], 'done', '1', unpack(ARGV, 2))
redis.call('DEL', KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""


class CallClaim:
    """One job's hold on a call: what it needs to know before touching Outreach, read in one round trip under
    the call's lock (when `locked`; another worker holds the call otherwise), and the ledger writes it makes.
    Made by `CallLedger.claim`, which releases the lock on the way out unless `complete` already did."""

    def __init__(self, ledger: CallLedger, ids: tuple[str, str, str], lock: Lock, reply: list[Any]) -> None:
        self.ids = ids  # team id, call id, rep email
        self._ledger, self._lock, self._completed = ledger, lock, False
        locked, fresh, state_raw, status, sealed, mapped, event, paused = reply  # Lua's false reads as None
        state = {state_raw[i].decode(): state_raw[i + 1].decode() for i in range(0, len(state_raw), 2)}
        self.locked: bool = locked == 1
        # No attempt held this call before, so nothing can have been written to Outreach for it yet: the steps
        # may skip their done-checks.
        self.fresh: bool = fresh == 1
        # The call's attempts since it was last sent (a first delivery, an operator's retry of its dead letter, a
        # release from parking: `restart`), this one included when it holds the lock.
        self.attempts: int = int(state.get("attempts", "0"))
        self.done: bool = state.get("done") == "1"
        # Each step done by an earlier attempt: step name → its marker (ids only).
        self.marks: dict[str, str] = {name[len(MARK_PREFIX):]: value for name, value in state.items()
                                      if name.startswith(MARK_PREFIX)}
        self.status = ConnectionStatus(status.decode()) if status else ConnectionStatus.NOT_CONNECTED
        self.outreach_user_id: int | None = int(mapped) if mapped else None
        self.sealed_tokens: bytes | None = sealed  # the rep's tokens as stored (encrypted): saves a round trip
        self.event_body: bytes | None = event  # the queued event, when the claim was asked for it
        self.paused: bool = paused == 1  # an operator paused the rep: the event waits, parked, until resumed
        self._unwritten: dict[str, str] = {}

    def mark(self, step: str, marker: str) -> None:
        """A step is done: its marker is written at the next `flush` or with `complete`."""
        self.marks[step] = marker
        self._unwritten[MARK_PREFIX + step] = marker

    async def flush(self) -> None:
        """Write the markers not yet written (before the next step acts, and before a job ends unfinished)."""
        if self._unwritten:
            unwritten, self._unwritten = self._unwritten, {}
            await self._ledger.write(self.ids, unwritten)

    async def complete(self, event_id: str) -> None:
        """Mark the call done (with its last markers), drop its event and release the lock: one round trip."""
        team_id, call_id, _ = self.ids
        unwritten, self._unwritten = self._unwritten, {}
        await self._ledger.complete_script(
            keys=[keys.call_state(team_id, call_id), keys.event(event_id), self._lock.key],
            args=[self._lock.token, *(part for pair in unwritten.items() for part in pair)],
        )
        self._completed = True

    async def _close(self) -> None:
        if self.locked and not self._completed:
            await self.flush()
            await self._lock.release()


class CallLedger:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._claim = redis.register_script(_CLAIM)
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
        reply = await self._claim(
            keys=call_keys if event_id is None else [*call_keys, keys.event(event_id)],
            args=[lock.token, lock.ttl_ms, CALL_STATE_TTL_SECONDS, rep_email, keys.rep_member(team_id, rep_email)],
        )
        claim = CallClaim(self, (team_id, call_id, rep_email), lock, reply)
        try:
            yield claim
        finally:
            await claim._close()  # the markers not yet written, then the lock

    async def restart(self, team_id: str, call_id: str, rep_email: str) -> None:
        """The call waits for a person (parked, dead-lettered): when it is sent again its attempts start afresh.
        The markers stay: what is done in Outreach stays done."""
        await self._redis.hset(keys.call_state(team_id, call_id), "attempts", "0")

    async def write(self, ids: tuple[str, str, str], fields: dict[str, str]) -> None:
        # `claim` already gave the entry its expiry.
        await self._redis.hset(keys.call_state(ids[0], ids[1]), mapping=fields)
