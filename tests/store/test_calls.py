"""The call ledger's two Lua scripts, tested directly: `claim` (lock, attempt count, ledger, connection, mapping
and event in one round trip) and `complete` (done with the last step markers, event dropped, lock released if still
ours); the step markers and the attempt count's restart."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from schemas.connection import ConnectionStatus, TokenSet
from store import keys
from store.calls import CALL_STATE_TTL_SECONDS, CallLedger
from store.connections import ConnectionStore
from store.crypto import TokenCipher

TEAM, CALL, REP = "team_acme", "call_1", "ana@acme.com"
LOCK_MS = 5_000


async def test_a_first_claim_locks_and_reads_a_blank_call(redis: Redis) -> None:
    async with CallLedger(redis).claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as claim:
        assert claim.locked and claim.fresh and not claim.done and claim.attempts == 1
        assert claim.marks == {} and claim.event_body is None
        assert claim.status is ConnectionStatus.NOT_CONNECTED and claim.outreach_user_id is None
        assert claim.sealed_tokens is None and claim.ids == (TEAM, CALL, REP)
        assert 0 < await redis.pttl(keys.call_lock(TEAM, CALL)) <= LOCK_MS
        assert CALL_STATE_TTL_SECONDS - 5 < await redis.ttl(keys.call_state(TEAM, CALL)) <= CALL_STATE_TTL_SECONDS
        assert await redis.hget(keys.call_state(TEAM, CALL), "attempts") == b"1"


async def test_a_claim_reads_the_connection_mapping_and_event_it_is_asked_for(redis: Redis) -> None:
    cipher = TokenCipher([Fernet.generate_key().decode()])
    tokens = TokenSet(access_token="a", refresh_token="r", expires_at=1.0, scopes=["calls.all"])
    await ConnectionStore(redis, cipher).save_tokens(TEAM, REP, tokens)
    await redis.hset(keys.mapping(TEAM), REP, "42")
    await redis.set(keys.event("evt_1"), b'{"id":"evt_1"}')
    async with CallLedger(redis).claim(TEAM, CALL, REP, lock_ms=LOCK_MS, event_id="evt_1") as claim:
        assert claim.status is ConnectionStatus.CONNECTED and claim.outreach_user_id == 42
        assert claim.event_body == b'{"id":"evt_1"}'
        assert ConnectionStore(redis, cipher).unseal(claim.sealed_tokens) == tokens
    async with CallLedger(redis).claim(TEAM, CALL, REP, lock_ms=LOCK_MS, event_id="evt_gone") as claim:
        assert claim.event_body is None


async def test_a_second_claim_while_held_is_not_locked_and_not_an_attempt(redis: Redis) -> None:
    """Waiting for another holder is no attempt: a dead worker's lock (up to a minute of waits) must not spend the
    call's attempts."""
    ledger = CallLedger(redis)
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as first:
        async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as second:
            assert first.locked and first.fresh and not second.locked and not second.fresh
            assert first.attempts == second.attempts == 1
        assert await redis.exists(keys.call_lock(TEAM, CALL))  # the loser's exit leaves the holder's lock
    assert not await redis.exists(keys.call_lock(TEAM, CALL))  # the holder's exit releases it
    assert await redis.hget(keys.call_state(TEAM, CALL), "attempts") == b"1"
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as third:
        assert third.locked and third.attempts == 2 and not third.fresh


async def test_the_lock_is_released_when_the_block_fails(redis: Redis) -> None:
    ledger = CallLedger(redis)
    with pytest.raises(RuntimeError):
        async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS):
            raise RuntimeError("Outreach down")
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as again:
        assert again.locked and not again.fresh


async def test_marks_then_complete_marks_done_drops_the_event_and_releases(redis: Redis) -> None:
    ledger = CallLedger(redis)
    await redis.set(keys.event("evt_1"), b"{}")
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as claim:
        claim.mark("call", "9001")
        assert not await redis.hexists(keys.call_state(TEAM, CALL), "step:call")  # written when flushed
        await claim.flush()
        assert await redis.hget(keys.call_state(TEAM, CALL), "step:call") == b"9001"
        claim.mark("task", "1122")
        await claim.complete("evt_1")  # with the marker not written yet
        assert not await redis.exists(keys.call_lock(TEAM, CALL))
        assert not await redis.exists(keys.event("evt_1"))
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as later:
        assert later.done and later.locked and later.marks == {"call": "9001", "task": "1122"}


async def test_markers_not_written_are_written_before_the_lock_is_released(redis: Redis) -> None:
    """An attempt that fails after a step is done leaves its marker for the next one (which skips the step)."""
    ledger = CallLedger(redis)
    with pytest.raises(RuntimeError):
        async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as claim:
            claim.mark("call", "9001")
            raise RuntimeError("Outreach down")
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as again:
        assert again.marks == {"call": "9001"} and not again.done


async def test_a_restart_counts_attempts_afresh_and_keeps_what_is_done(redis: Redis) -> None:
    """Parked or dead-lettered, a call sent again starts its attempts afresh; its steps done stay done, and it is
    not fresh (an earlier attempt may have written to Outreach)."""
    ledger = CallLedger(redis)
    for _ in range(3):
        async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as claim:
            claim.mark("call", "9001")
    assert claim.attempts == 3
    await ledger.restart(TEAM, CALL, REP)
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as again:
        assert again.attempts == 1 and not again.fresh and again.marks == {"call": "9001"}


async def test_complete_leaves_a_lock_that_is_no_longer_ours(redis: Redis) -> None:
    ledger = CallLedger(redis)
    async with ledger.claim(TEAM, CALL, REP, lock_ms=LOCK_MS) as claim:
        # Our lock expired (a job slower than its lock) and another worker took the call.
        await redis.set(keys.call_lock(TEAM, CALL), "someone-else")
        await claim.complete("evt_1")
        assert await redis.hget(keys.call_state(TEAM, CALL), "done") == b"1"
    assert await redis.get(keys.call_lock(TEAM, CALL)) == b"someone-else"
