"""The `log_call` job: one Nooks `call.completed` → exactly one Outreach call, then its task completed.

Read top to bottom, one attempt is: claim the call (store/calls.py: lock, ledger, the rep's connection and the
event, one round trip), run its steps (workers/call_steps.py, through workers/pipeline.py), decide what happened
(workers/outcome.py: one pure function), and carry that out here: the ledger, /ops (story, dead letters, flags,
parking, retries waiting) and the figures, each counted once.

Everything about Outreach is read just in time with the rep's token and dropped when the job ends; Redis only
learns ids and reasons.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Any, assert_never

from pydantic import ValidationError

from outreach.client import RepSession
from runtime.services import Services
from schemas.connection import ConnectionStatus
from schemas.events import CallCompletedEvent, CallData
from schemas.ops import DeadLetter, EventIds, Flag
from store.calls import CallClaim
from store.pauses import PAUSED_REASON
from store.redis import UNAVAILABLE
from store.telemetry import EVENT_TO_OUTREACH
from workers import retry
from workers.call_steps import CALL_STEPS
from workers.outcome import (
    BadEvent,
    CallBusy,
    DeadLettered,
    Duplicate,
    Finished,
    Flagged,
    Gone,
    Happened,
    Logged,
    Outcome,
    Park,
    Parked,
    RetryAt,
    decide,
)
from workers.parking import rep_is_ready
from workers.pipeline import CallRun, run_steps

log = logging.getLogger("workers.log_call")


async def log_call(ctx: dict[str, Any], event_id: str, call_ids: Any = None) -> dict[str, Any]:
    """`call_ids`: [team id, call id, rep email] as ingress validated them (jobs queued again by parking or an
    operator carry none): the event is then read in the same round trip as the call's claim."""
    enqueued = ctx.get("enqueue_time")
    job = CallJob(ctx["services"], event_id, max(time.time() - enqueued.timestamp(), 0.0) if enqueued else 0.0)
    return await job.run(_ids(call_ids))


def _ids(raw: Any) -> tuple[str, str, str] | None:
    if isinstance(raw, list) and len(raw) == 3 and all(isinstance(part, str) and part for part in raw):
        return raw[0], raw[1], raw[2]
    return None


class CallJob:
    """One attempt of a `log_call` job."""

    def __init__(self, services: Services, event_id: str, queued_s: float) -> None:
        self.services = services
        self.event_id = event_id
        self.queued_s = queued_s  # from when the event was queued to this attempt's start
        self.started = time.monotonic()
        self.call: CallData | None = None  # once the event is read
        self.claimed: tuple[str, str, str] | None = None  # the call whose lock this attempt held
        # The call's attempt count, the ledger's (store/calls.py): what backoff and giving up read. 1 until the call
        # is claimed (an event gone or unreadable is settled on its first look).
        self.attempt = 1
        # No job outlives arq's timeout, so neither does its lock.
        self._lock_ms = int(services.settings.worker_job_timeout * 1000)

    async def run(self, ids: tuple[str, str, str] | None) -> dict[str, Any]:
        happened: Happened
        try:
            async with asyncio.timeout(self.services.settings.worker_job_budget):
                happened = await self._attempt(ids)
        except UNAVAILABLE:
            raise  # Redis, not the call: the worker hands the job back (store/job_queue.py)
        except Exception as error:
            happened = error
        outcome = decide(happened, self.attempt, spread=retry.jitter())
        if isinstance(outcome, RetryAt | DeadLettered) and outcome.unexpected and isinstance(happened, Exception):
            # A bug, not Outreach: log where (never the message, it may quote data).
            log.error("unexpected %s in event=%s\n%s", type(happened).__name__, self.event_id,
                      "".join(traceback.format_tb(happened.__traceback__)))
        return await self._settle(outcome)

    # --- the attempt -----------------------------------------------------------------------------------------
    async def _attempt(self, ids: tuple[str, str, str] | None) -> Finished | Duplicate | Gone:
        ledger = self.services.stores.calls
        if ids is not None:  # the job names its call: claim it and read the event in one round trip
            async with ledger.claim(*ids, lock_ms=self._lock_ms, event_id=self.event_id) as claim:
                if claim.event_body is None:
                    return Gone()
                self.call = _parse(claim.event_body)
                if self._ids() == claim.ids:
                    return await self._steps(claim)
            # A job not written by our ingress: trust the event, and claim its call instead.
        else:
            body = await self.services.stores.queue.event_body(self.event_id)
            if body is None:
                return Gone()
            self.call = _parse(body)
        async with ledger.claim(*self._ids(), lock_ms=self._lock_ms) as claim:
            return await self._steps(claim)

    async def _steps(self, claim: CallClaim) -> Finished | Duplicate:
        if not claim.locked:
            raise CallBusy
        self.claimed, self.attempt = claim.ids, claim.attempts
        if claim.done:
            return Duplicate()
        rep, user_id = self._rep(claim)
        run = CallRun(self.services, self.event_id, self._call(), claim, rep, user_id, self.attempt)
        return await run_steps(run, CALL_STEPS)

    def _rep(self, claim: CallClaim) -> tuple[RepSession, int]:
        if claim.paused:
            raise Park(PAUSED_REASON)
        if claim.status is not ConnectionStatus.CONNECTED:
            raise Park(claim.status.value)
        if claim.outreach_user_id is None:
            raise Park("not_mapped")
        call = self._call()
        tokens = self.services.stores.connections.unseal(claim.sealed_tokens)
        return self.services.outreach.client.for_rep(call.team_id, call.rep_email, tokens), claim.outreach_user_id

    def _call(self) -> CallData:
        assert self.call is not None, "the event is read first"
        return self.call

    def _ids(self) -> tuple[str, str, str]:
        call = self._call()
        return call.team_id, call.call_id, call.rep_email

    def _event_ids(self) -> EventIds | None:
        return event_ids(self.call) if self.call is not None else None

    # --- carrying the outcome out: each figure counted here, once --------------------------------------------
    async def _settle(self, outcome: Outcome) -> dict[str, Any]:
        match outcome:
            case Logged(outreach_call_id) | Flagged(outreach_call_id):
                await self._logged(outreach_call_id, outcome.flags if isinstance(outcome, Flagged) else ())
                return {"status": "logged", "event_id": self.event_id, "outreach_call_id": outreach_call_id,
                        "flags": list(outcome.flags) if isinstance(outcome, Flagged) else []}
            case Duplicate():
                await self._duplicate()
                return {"status": "duplicate", "event_id": self.event_id}
            case Gone():
                log.info("gone event=%s (already logged, or removed by an operator)", self.event_id)
                self.services.ops.history.record(self.event_id, "gone", attempt=self.attempt)
                return {"status": "gone", "event_id": self.event_id}
            case Parked(reason):
                await self._park(reason)
                return {"status": "parked", "event_id": self.event_id, "reason": reason}
            case DeadLettered(reason):
                await self._dead_letter(reason)
                return {"status": "dead_lettered", "event_id": self.event_id, "reason": reason}
            case RetryAt():
                raise await self._retry(outcome)
            case _:
                assert_never(outcome)

    async def _logged(self, outreach_call_id: int, flags: tuple[str, ...]) -> None:
        services, call = self.services, self._call()
        if flags:
            await services.stores.dead_letters.flag(Flag(
                event_id=self.event_id, call_id=call.call_id, team_id=call.team_id, rep_email=call.rep_email,
                outreach_call_id=outreach_call_id, flags=list(flags), at=_now(),
            ))
        await self._left_retries()
        log.info("logged event=%s call=%s outreach_call=%s flags=%s attempt=%d queued=%.2fs", self.event_id,
                 call.call_id, outreach_call_id, ",".join(flags) or "-", self.attempt, self.queued_s)
        services.ops.history.record(self.event_id, "logged", ids=event_ids(call), attempt=self.attempt,
                                outreach_call_id=outreach_call_id, detail=",".join(flags) or None)
        services.ops.telemetry.count("calls_logged")
        services.ops.telemetry.call_logged(call.team_id, call.rep_email)
        # From the event queued (ingress, or a release or an operator's retry) to its call in Outreach.
        services.ops.telemetry.observe(EVENT_TO_OUTREACH, self.queued_s + time.monotonic() - self.started)

    async def _duplicate(self) -> None:
        log.info("duplicate event=%s call=%s (the call is already logged)", self.event_id, self._call().call_id)
        await self.services.stores.queue.forget_event(self.event_id)
        self.services.ops.telemetry.count("calls_duplicate")
        self.services.ops.history.record(self.event_id, "duplicate", ids=self._event_ids(), attempt=self.attempt)

    async def _park(self, reason: str) -> None:
        services, call = self.services, self._call()
        await self._restart()
        await services.stores.parking.park(call.team_id, call.rep_email, self.event_id, reason)
        await self._left_retries()
        log.info("parked event=%s reason=%s", self.event_id, reason)
        services.ops.history.record(self.event_id, "parked", ids=self._event_ids(), detail=reason, attempt=self.attempt)
        services.ops.telemetry.count("events_parked")
        if await rep_is_ready(services, call.team_id, call.rep_email):
            # The rep connected (or was mapped) while we were deciding: release now, not at the next sweep.
            await services.stores.parking.release(call.team_id, call.rep_email)

    async def _dead_letter(self, reason: str) -> None:
        call = self.call
        log.warning("dead-lettered event=%s reason=%s", self.event_id, reason)
        await self._restart()
        await self.services.stores.dead_letters.add(DeadLetter(
            event_id=self.event_id, call_id=call.call_id if call else None,
            rep_email=call.rep_email if call else None, team_id=call.team_id if call else None, reason=reason,
            attempts=self.attempt, dead_at=_now(),
        ))
        await self._left_retries()
        self.services.ops.history.record(self.event_id, "dead_lettered", ids=self._event_ids(), detail=reason,
                                     attempt=self.attempt)
        self.services.ops.telemetry.count("events_dead_lettered")

    async def _retry(self, again: RetryAt) -> Exception:
        """The arq `Retry` that brings the next attempt; shown on /ops (retries waiting) and in the story, unless
        the call was only busy (no attempt was made)."""
        if again.story is not None:
            log.info("retrying event=%s attempt=%d reason=%s", self.event_id, self.attempt, again.reason)
            await self.services.ops.retries.scheduled(self.event_id, self._event_ids(), self.attempt, again.reason,
                                                  again.seconds)
            self.services.ops.history.record(self.event_id, again.story, ids=self._event_ids(), detail=again.reason,
                                         attempt=self.attempt)
            self.services.ops.telemetry.count("retries" if again.story == "attempt_failed" else "retries_rate_limited")
        return retry.at(again.seconds)

    async def _restart(self) -> None:
        """Parked or dead-lettered, the call waits for a person: sent again, it counts its attempts afresh."""
        if self.claimed is not None:
            await self.services.stores.calls.restart(*self.claimed)

    async def _left_retries(self) -> None:
        """Only a call that failed before (its attempt > 1) can have an entry among the retries waiting."""
        if self.attempt > 1:
            await self.services.ops.retries.cleared(self.event_id)


def _parse(body: bytes) -> CallData:
    try:
        return CallCompletedEvent.model_validate_json(body).data
    except ValidationError:
        raise BadEvent from None


def _now() -> int:
    return int(time.time())


def event_ids(call: CallData) -> EventIds:
    return EventIds(team_id=call.team_id, call_id=call.call_id, rep_email=call.rep_email)
