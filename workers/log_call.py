"""The `log_call` job: one Nooks `call.completed` → exactly one Outreach call, then the task completed.

Everything about Outreach is read just in time with the rep's token and dropped when the job ends; Redis
only learns ids (call_id → Outreach call id) and reasons.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from dataclasses import replace
from typing import Any

from arq import Retry
from pydantic import ValidationError

from outreach import api, quick_retry
from outreach.client import Params, RepSession
from outreach.errors import (
    ListTruncated,
    NotConnected,
    OutreachRejected,
    OutreachUnavailable,
    RateLimited,
    ReconnectRequired,
)
from runtime.services import Services
from schemas.connection import ConnectionStatus
from schemas.events import CallCompletedEvent, CallData
from schemas.ops import DeadLetter, EventIds, Flag
from store.calls import CallClaim
from store.pauses import PAUSED_REASON
from store.queue import count
from store.redis import UNAVAILABLE
from store.telemetry import EVENT_TO_OUTREACH
from workers import retry
from workers.mapping import Links, call_attributes, call_relationships, dialed_number, e164
from workers.parking import rep_is_ready
from workers.tuning import JOB_BUDGET, JOB_TIMEOUT

log = logging.getLogger("workers.log_call")

# Of the task, only what the call needs (sparse fieldset: attributes and relationships alike, as call_tasks.py
# reads them): less of Outreach's data crosses into the job, and less JSON to parse.
TASK_FIELDS: Params = {"fields[task]": "state,prospect,sequence,sequenceState,sequenceStep"}
TASK_STATE: Params = {"fields[task]": "state"}
CALL_LOCK_MS = int(JOB_TIMEOUT * 1000)  # no job outlives arq's timeout, so neither does its lock


class Park(Exception):
    """The rep cannot be served yet (not connected, needs reconnecting, not mapped)."""


class ProspectNotFound(Exception):
    pass


class CallBusy(Exception):
    """Another worker holds this call_id right now."""


async def log_call(ctx: dict[str, Any], event_id: str, call_ids: Any = None) -> dict[str, Any]:
    """`call_ids`: [team id, call id, rep email] as ingress validated them (jobs queued again by parking or an
    operator carry none): the event is then read in the same round trip as the call's claim."""
    enqueued = ctx.get("enqueue_time")
    job = CallJob(ctx["services"], event_id, int(ctx.get("job_try") or 1),
                  max(time.time() - enqueued.timestamp(), 0.0) if enqueued else 0.0)
    return await job.run(_ids(call_ids))


def _ids(raw: Any) -> tuple[str, str, str] | None:
    if isinstance(raw, list) and len(raw) == 3 and all(isinstance(part, str) and part for part in raw):
        return raw[0], raw[1], raw[2]
    return None


def _park_reason(blocked: Exception) -> str:
    if isinstance(blocked, ReconnectRequired):
        return ConnectionStatus.NEEDS_RECONNECT.value
    if isinstance(blocked, NotConnected):
        return ConnectionStatus.NOT_CONNECTED.value
    return str(blocked)


class CallJob:
    """One attempt of a `log_call` job: read the event, claim its call, log it; decide what every outcome
    means (parked, dead-lettered, retried: workers/retry.py)."""

    def __init__(self, services: Services, event_id: str, attempt: int, queued_s: float) -> None:
        self.services = services
        self.event_id = event_id
        self.attempt = attempt
        # What backoff and giving up count: the jobs that held this call's lock (the ledger's count, once claimed),
        # not arq's tries, which also count each wait for a lock another worker held (a minute if it died).
        self.tries = attempt
        self.queued_s = queued_s  # from when the event was queued to this attempt's start
        self.started = time.monotonic()
        self.call: CallData | None = None  # once the event is read

    async def run(self, ids: tuple[str, str, str] | None) -> dict[str, Any]:
        try:
            async with asyncio.timeout(JOB_BUDGET):
                outcome = await self._log(ids)
            if outcome["status"] == "logged":
                # From the event queued (ingress, or a release or an operator's retry) to its call in Outreach.
                self.services.ops.telemetry.observe(EVENT_TO_OUTREACH, self.queued_s + time.monotonic() - self.started)
            await self._left_retries()
            return outcome
        except (Park, ReconnectRequired, NotConnected) as blocked:
            return await self._park(_park_reason(blocked))
        except RateLimited as limited:
            await count(self.services.redis, "retries_rate_limited")
            raise await self._scheduled(retry.after_rate_limit(limited), "rate limited by Outreach",
                                        "rate_limited") from None
        except (OutreachRejected, ProspectNotFound, ListTruncated) as rejected:
            # A list too long to read whole will be as long on the next try: a person must look (its text names
            # only the resource). A prospect not found keeps its own fixed text.
            reason = "prospect not found in Outreach" if isinstance(rejected, ProspectNotFound) else str(rejected)
            await self._dead_letter(reason)
            return {"status": "dead_lettered", "event_id": self.event_id, "reason": reason}
        except CallBusy:
            raise retry.shortly(1, 1) from None
        except (OutreachUnavailable, TimeoutError) as error:
            reason = str(error) if isinstance(error, OutreachUnavailable) else "Outreach too slow (job budget spent)"
            hint = error.retry_after if isinstance(error, OutreachUnavailable) else None
            return await self._retry_or_give_up(reason, hint)
        except UNAVAILABLE:
            raise  # Redis, not the call: the worker hands the job back (runtime/arq_internals.py)
        except Exception as error:
            # A bug, not Outreach: log where (never the message, it may quote data) and back off.
            log.error("unexpected %s in event=%s\n%s", type(error).__name__, self.event_id,
                      "".join(traceback.format_tb(error.__traceback__)))
            return await self._retry_or_give_up(f"internal error ({type(error).__name__})", None)

    async def _log(self, ids: tuple[str, str, str] | None) -> dict[str, Any]:
        ledger = self.services.stores.calls
        if ids is not None:  # the job names its call: claim it and read the event in one round trip
            async with ledger.claim(*ids, lock_ms=CALL_LOCK_MS, event_id=self.event_id) as claim:
                outcome = await self._read(claim.event_body)
                if outcome is not None:
                    return outcome
                if self._ids() == claim.ids:
                    return await self._logger(claim).run(claim)
            # A job not written by our ingress: trust the event, and claim its call instead.
        else:
            outcome = await self._read(await self.services.stores.queue.event_body(self.event_id))
            if outcome is not None:
                return outcome
        async with ledger.claim(*self._ids(), lock_ms=CALL_LOCK_MS) as claim:
            return await self._logger(claim).run(claim)

    def _logger(self, claim: CallClaim) -> CallLogger:
        if claim.locked:
            # Attempts of THIS job: arq's try counts waits for another worker's lock (the ledger does not), and the
            # ledger counts the call's earlier jobs (an operator's retry of a dead letter, a released parked event,
            # which must start afresh, as arq's try does).
            self.tries = max(min(claim.attempts, self.attempt), 1)
        return CallLogger(self.services, self.event_id, self._call(), self.attempt, self.queued_s)

    async def _read(self, body: bytes | None) -> dict[str, Any] | None:
        """Parse the stored event into `self.call`; an outcome when there is nothing to log."""
        if body is None:
            log.info("gone event=%s (already logged, or removed by an operator)", self.event_id)
            self.services.ops.history.record(self.event_id, "gone", attempt=self.attempt)
            return {"status": "gone", "event_id": self.event_id}
        try:
            self.call = CallCompletedEvent.model_validate_json(body).data
        except ValidationError:
            await self._dead_letter("stored event does not match the schema")
            return {"status": "dead_lettered", "event_id": self.event_id}
        return None

    def _call(self) -> CallData:
        assert self.call is not None, "the event is read first"
        return self.call

    def _ids(self) -> tuple[str, str, str]:
        call = self._call()
        return call.team_id, call.call_id, call.rep_email

    def _event_ids(self) -> EventIds | None:
        call = self.call
        return event_ids(call) if call is not None else None

    async def _park(self, reason: str) -> dict[str, Any]:
        services, call = self.services, self._call()
        await services.stores.parking.park(call.team_id, call.rep_email, self.event_id, reason)
        await self._left_retries()
        log.info("parked event=%s reason=%s", self.event_id, reason)
        services.ops.history.record(self.event_id, "parked", ids=self._event_ids(), detail=reason, attempt=self.attempt)
        services.ops.telemetry.count("parked")
        if await rep_is_ready(services, call.team_id, call.rep_email):
            # The rep connected (or was mapped) while we were deciding: release now, not at the next sweep.
            await services.stores.parking.release(call.team_id, call.rep_email)
        return {"status": "parked", "event_id": self.event_id, "reason": reason}

    async def _retry_or_give_up(self, reason: str, hint: float | None) -> dict[str, Any]:
        if retry.LOG_CALL.exhausted(self.tries):
            await self._dead_letter(f"{reason}; gave up after {self.tries} attempts")
            return {"status": "dead_lettered", "event_id": self.event_id, "reason": reason}
        await count(self.services.redis, "retries")
        log.info("retrying event=%s attempt=%d reason=%s", self.event_id, self.tries, reason)
        raise await self._scheduled(retry.LOG_CALL.again(self.tries, hint), reason, "attempt_failed")

    async def _scheduled(self, again: Retry, reason: str, step: str) -> Retry:
        """An attempt failed and `again` brings the next: shown on /ops (retries waiting) and in the story."""
        services = self.services
        await services.ops.retries.scheduled(self.event_id, self._event_ids(), self.tries, reason,
                                         again.defer_score / 1000 if again.defer_score else 0.0)
        services.ops.history.record(self.event_id, step, ids=self._event_ids(), detail=reason, attempt=self.tries)
        services.ops.telemetry.count("retries")
        return again

    async def _left_retries(self) -> None:
        """Only a job that failed before (arq's try > 1) can have an entry among the retries waiting."""
        if self.attempt > 1:
            await self.services.ops.retries.cleared(self.event_id)

    async def _dead_letter(self, reason: str) -> None:
        call = self.call
        log.warning("dead-lettered event=%s reason=%s", self.event_id, reason)
        await self.services.stores.dead_letters.add(DeadLetter(
            event_id=self.event_id, call_id=call.call_id if call else None,
            rep_email=call.rep_email if call else None, team_id=call.team_id if call else None, reason=reason,
            attempts=self.tries, dead_at=_now(),
        ))
        await self._left_retries()
        self.services.ops.history.record(self.event_id, "dead_lettered", ids=self._event_ids(), detail=reason,
                                     attempt=self.attempt)
        self.services.ops.telemetry.count("dead_lettered")


def _now() -> int:
    return int(time.time())


def event_ids(call: CallData) -> EventIds:
    return EventIds(team_id=call.team_id, call_id=call.call_id, rep_email=call.rep_email)


class CallLogger:
    """Logs one claimed call: reads what it links to from Outreach, writes the call, completes the task."""

    def __init__(self, services: Services, event_id: str, call: CallData, attempt: int = 1,
                 queued_s: float = 0.0) -> None:
        self.services = services
        self.event_id = event_id
        self.call = call
        self.attempt = attempt
        self.queued_s = queued_s
        self.flags: list[str] = []
        self.task_completed = False

    async def run(self, claim: CallClaim) -> dict[str, Any]:
        call = self.call
        if not claim.locked:
            raise CallBusy
        if claim.done:
            return await self._duplicate()
        rep, user_id = self._rep(claim)
        outreach_call_id = claim.outreach_call_id
        # Only an earlier attempt can have written this call to Outreach without the ledger knowing (it died
        # between the POST and `record_call`): look for such a call then, and only then. Both counts must say
        # "first": the ledger's (any job for this call_id) and arq's (this job, e.g. across a deploy).
        first = claim.first_attempt and self.attempt == 1
        links, task_open, existing = await self._resolve(
            rep, user_id, look_for_written=outreach_call_id is None and not first)
        if outreach_call_id is None:
            outreach_call_id = await self._write_call(claim, rep, links, existing)
        if task_open and links.task_id is not None and call.should_complete_task:
            self.task_completed = await self._complete_task(rep, links.task_id)
        await claim.complete(self.event_id)
        await self._finish(outreach_call_id)
        return {"status": "logged", "event_id": self.event_id, "outreach_call_id": outreach_call_id,
                "flags": self.flags}

    def _rep(self, claim: CallClaim) -> tuple[RepSession, int]:
        if claim.paused:
            raise Park(PAUSED_REASON)
        if claim.status is not ConnectionStatus.CONNECTED:
            raise Park(claim.status.value)
        if claim.outreach_user_id is None:
            raise Park("not_mapped")
        tokens = self.services.stores.connections.unseal(claim.sealed_tokens)
        rep = self.services.outreach.client.for_rep(self.call.team_id, self.call.rep_email, tokens)
        return rep, claim.outreach_user_id

    async def _resolve(self, rep: RepSession, user_id: int, *, look_for_written: bool
                       ) -> tuple[Links, bool, int | None]:
        """Read task, disposition and prospect just in time, concurrently where they do not depend.

        With `look_for_written`, also returns a call already written for this call_id (an earlier attempt that
        crashed after the POST), found by its vendorCallId.
        """
        call = self.call
        search = call.prospect_id is not None and look_for_written
        if search or (call.disposition_id is None and call.disposition):
            task, disposition_id, existing = await _first_error(
                self._task(rep), self._disposition(rep), self._existing_call(rep, call.prospect_id if search else None),
            )
        else:  # only the task read goes to Outreach (the usual first attempt): no tasks to gather
            task, disposition_id, existing = await self._task(rep), call.disposition_id, None
        prospect_id = call.prospect_id
        if prospect_id is not None and (task is None or task.related_id("prospect") != prospect_id):
            await self._prospect_exists(rep, prospect_id)  # a task on this prospect already vouches for it
        if prospect_id is None and task is not None:
            prospect_id = task.related_id("prospect")
        if prospect_id is None:
            number = dialed_number(call)
            prospect_id = await api.prospect_id_by_number(rep, e164(number)) if number else None
        if prospect_id is None:
            raise ProspectNotFound
        if look_for_written and not search:
            existing = await self._existing_call(rep, prospect_id)
        links = Links(
            prospect_id=prospect_id,
            user_id=user_id,
            disposition_id=disposition_id,
            task_id=task.id if task else None,
            sequence_id=task.related_id("sequence") if task else None,
            sequence_state_id=task.related_id("sequenceState") if task else None,
            sequence_step_id=task.related_id("sequenceStep") if task else None,
        )
        task_open = task is not None and task.attributes.get("state") != "complete"
        return links, task_open, existing

    async def _existing_call(self, rep: RepSession, prospect_id: int | None) -> int | None:
        if prospect_id is None:
            return None
        return await api.call_id_by_vendor_id(rep, prospect_id, self.call.call_id)

    async def _task(self, rep: RepSession) -> Any:
        if self.call.task_id is None:
            return None
        task = await api.get_one(rep, "tasks", self.call.task_id, params=TASK_FIELDS)
        if task is not None and "prospect" not in task.relationships:
            # Sparse relationships are not confirmed for Outreach: if they did not come back, read it whole.
            task = await api.get_one(rep, "tasks", self.call.task_id)
        if task is None:
            self.flags.append("task_not_found")
        return task

    async def _disposition(self, rep: RepSession) -> int | None:
        call = self.call
        if call.disposition_id is not None:
            return call.disposition_id  # checked only if Outreach refuses the call (see _write_call)
        if call.disposition:
            found = await api.disposition_id_by_name(rep, call.disposition)
            if found is None:
                self.flags.append("disposition_unknown")
            return found
        return None

    async def _prospect_exists(self, rep: RepSession, prospect_id: int | None) -> None:
        if prospect_id is not None and await api.get_one(rep, "prospects", prospect_id) is None:
            raise ProspectNotFound

    async def _write_call(self, claim: CallClaim, rep: RepSession, links: Links, existing: int | None) -> int:
        """Create the call, unless an earlier attempt already did (crash between POST and bookkeeping)."""
        if existing is not None:
            await count(self.services.redis, "calls_recovered")
            outreach_call_id = existing
        else:
            outreach_call_id = await self._create(rep, links)
        await claim.record_call(outreach_call_id)
        return outreach_call_id

    async def _create(self, rep: RepSession, links: Links) -> int:
        try:
            return await self._post_call(rep, links)
        except OutreachRejected as rejected:
            # The disposition id came from Nooks unchecked (one request less per call). If that is what Outreach
            # refused, log the call without it and flag the event, as for an unknown disposition name.
            if rejected.status != 422 or links.disposition_id is None or self.call.disposition_id is None:
                raise
            if await api.get_one(rep, "callDispositions", links.disposition_id) is not None:
                raise
            self.flags.append("disposition_not_found")
            return await self._post_call(rep, replace(links, disposition_id=None))

    async def _post_call(self, rep: RepSession, links: Links) -> int:
        """`POST /calls`, tried again quickly only after asking Outreach (by vendorCallId) whether an answer that
        did not reach us had created it."""
        call = self.call

        async def created() -> int | None:
            found = await self._existing_call(rep, links.prospect_id)
            if found is not None:
                await count(self.services.redis, "calls_recovered")
            return found

        return await quick_retry.retried(
            lambda: api.create_call(rep, call_attributes(call), call_relationships(links)), idempotent=False,
            done=created)

    async def _complete_task(self, rep: RepSession, task_id: int) -> bool:
        async def completed() -> bool | None:
            task = await api.get_one(rep, "tasks", task_id, params=TASK_STATE)
            return True if task is not None and task.attributes.get("state") == "complete" else None

        try:
            # Tried again quickly only once a read says an answer we missed had not completed it (completing a
            # complete task is refused: it would be flagged as not completed).
            await quick_retry.retried(lambda: api.mark_task_complete(rep, task_id), idempotent=False,
                                      done=completed)
        except OutreachRejected as rejected:
            # Completed elsewhere between our read and this write, or gone: the call itself is logged.
            if rejected.status not in (404, 409, 422):
                raise
            self.flags.append("task_not_completed")
            return False
        return True

    async def _duplicate(self) -> dict[str, Any]:
        log.info("duplicate event=%s call=%s (the call is already logged)", self.event_id, self.call.call_id)
        await self.services.stores.queue.forget_event(self.event_id)
        await count(self.services.redis, "calls_duplicate")
        self.services.ops.history.record(self.event_id, "duplicate", ids=event_ids(self.call), attempt=self.attempt)
        return {"status": "duplicate", "event_id": self.event_id}

    async def _finish(self, outreach_call_id: int) -> None:
        call, services = self.call, self.services
        if self.flags:
            await services.stores.dead_letters.flag(Flag(
                event_id=self.event_id, call_id=call.call_id, team_id=call.team_id, rep_email=call.rep_email,
                outreach_call_id=outreach_call_id, flags=self.flags, at=_now(),
            ))
        log.info("logged event=%s call=%s outreach_call=%s flags=%s attempt=%d queued=%.2fs", self.event_id,
                 call.call_id, outreach_call_id, ",".join(self.flags) or "-", self.attempt, self.queued_s)
        ids = event_ids(call)
        services.ops.history.record(self.event_id, "logged", ids=ids, attempt=self.attempt,
                                outreach_call_id=outreach_call_id, detail=",".join(self.flags) or None)
        if self.task_completed:
            services.ops.history.record(self.event_id, "task_completed", ids=ids)
        services.ops.telemetry.count("calls_logged")
        services.ops.telemetry.call_logged(call.team_id, call.rep_email)


async def _first_error(*steps: Any) -> list[Any]:
    """Run steps concurrently; if any fails, let all finish, then raise the first failure.

    Unlike a bare gather, no step is left running in the background after the job moves on.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)
