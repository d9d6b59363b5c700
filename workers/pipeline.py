"""A call as a list of steps, and the one loop that runs them exactly once each.

A `ReadStep` reads what later steps need from Outreach, every attempt (nothing read is kept). A `WriteStep` changes
Outreach once per call_id; it has
- a ledger marker (`step:<name>` in the call's ledger, ids only), written once it is done;
- a done-check (`found`): is it already done in Outreach? Asked before acting when an earlier attempt may have
  acted without writing its marker (a worker killed in between), and after an answer lost on the way back before
  sending the write again (outreach/quick_retry.py): resuming is this same loop, never a special case;
- an outcome of its own: done (marked, a story line), refused by Outreach with a 4xx (the event is flagged
  `<name>_refused:<status>:<error id>`, the refusal is its marker, later steps still run; an `essential` step's
  refusal instead ends the call in a dead letter) or by what Outreach's data says (`Refused`: flagged
  `<name>_refused:<reason>`, the same way), or any other failure, which ends the attempt: the job is retried
  (workers/outcome.py) and resumes after the steps already marked. Refusals are counted per step
  (`flagged_<name>`) for the /ops overview.

docs/ARCHITECTURE.md ("How to add a step") shows a new step end to end.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from outreach.client import RepSession
from outreach.errors import OutreachRejected
from runtime.services import Services
from schemas.events import CallData
from schemas.ops import EventIds
from store.calls import CallClaim
from workers.after_call import Plan
from workers.mapping import Links
from workers.outcome import REFUSED, Finished, Refused, refusal_flag

log = logging.getLogger("workers.pipeline")

Check = Callable[[], Awaitable[str | None]]


class CallRun:
    """What one attempt knows about its call, shared by its steps; read just in time, gone when the job ends."""

    def __init__(self, services: Services, event_id: str, call: CallData, claim: CallClaim, rep: RepSession,
                 user_id: int, attempt: int) -> None:
        self.services = services
        self.event_id = event_id
        self.call = call
        self.claim = claim
        self.rep = rep  # requests with the rep's own token
        self.user_id = user_id  # the rep's Outreach user
        self.attempt = attempt
        self.ids = EventIds(team_id=call.team_id, call_id=call.call_id, rep_email=call.rep_email)
        self.flags: list[str] = []
        # Filled by the steps as they run:
        self.links: Links | None = None  # what the call is attached to (Resolve)
        self.task: Any = None  # the linked task as read this attempt, None without one (Resolve)
        self.outreach_call_id: int | None = None  # (WriteCall)
        self.plan: Plan | None = None  # what the call's outcome asks of Outreach (ReadOutcome)

    @property
    def resolved(self) -> Links:
        assert self.links is not None, "Resolve runs before the steps that write"
        return self.links

    @property
    def resuming(self) -> bool:
        """An earlier attempt held this call: it may have written to Outreach without marking it."""
        return not self.claim.fresh

    def story(self, step: str, detail: str | None = None) -> None:
        self.services.ops.history.record(self.event_id, step, ids=self.ids, detail=detail, attempt=self.attempt,
                                     outreach_call_id=self.outreach_call_id)


class ReadStep(ABC):
    """Reads what later steps need, every attempt; keeps nothing."""

    @abstractmethod
    async def read(self, run: CallRun) -> None: ...


class WriteStep(ABC):
    """One change in Outreach, made exactly once per call_id (see the module docstring)."""

    name: ClassVar[str]  # the ledger marker `step:<name>`, the flag `<name>_refused:…`, the figure `<name>_recovered`
    story: ClassVar[str]  # the line of the event's story once done (`/ops`)
    essential: ClassVar[bool] = False  # a refusal means the call cannot be logged at all: a dead letter
    # False when `wanted` already read what `found` would (this attempt): no second request to resume.
    check_on_resume: ClassVar[bool] = True

    def wanted(self, run: CallRun) -> bool:
        """Whether this call needs the step at all (from what the read steps found)."""
        return True

    @abstractmethod
    async def found(self, run: CallRun) -> str | None:
        """The done-check: the step's marker when Outreach has it done already, else None."""

    @abstractmethod
    async def act(self, run: CallRun, found: Check) -> str:
        """Do it, once; answers the marker (ids only). `found` is the done-check to give the write's request, so
        an answer lost on the way back is checked before the write is sent again."""

    def adopt(self, run: CallRun, marker: str) -> None:  # noqa: B027 (most steps leave nothing for later ones)
        """The step is done (now, or by an earlier attempt): tell the run what later steps need of it."""


Step = ReadStep | WriteStep


async def run_steps(run: CallRun, steps: Sequence[Step]) -> Finished:
    """Every step in order, each write at most once; then the call is complete in the ledger."""
    for step in steps:
        if isinstance(step, ReadStep):
            await step.read(run)
            continue
        marker = run.claim.marks.get(step.name)
        if marker is not None:
            _adopt(run, step, marker)  # done (or refused) by an earlier attempt
        elif step.wanted(run):
            await _once(run, step)
    await run.claim.complete(run.event_id)
    assert run.outreach_call_id is not None, "a call's steps include writing the call"
    return Finished(run.outreach_call_id, tuple(run.flags))


async def _once(run: CallRun, step: WriteStep) -> None:
    recovered = False

    async def found() -> str | None:
        nonlocal recovered
        marker = await step.found(run)
        if marker is not None:
            recovered = True
            run.services.ops.telemetry.count(f"{step.name}_recovered")
            log.info("found done event=%s step=%s", run.event_id, step.name)
        return marker

    await run.claim.flush()  # the earlier steps' markers are written before this step may write
    try:
        marker = await found() if run.resuming and step.check_on_resume else None
        if marker is None:
            marker = await step.act(run, found)
    except (OutreachRejected, Refused) as refused:
        if step.essential:
            raise
        if isinstance(refused, Refused):
            marker = f"{step.name}{REFUSED}:{refused.reason}"
        else:
            marker = refusal_flag(step.name, refused.status, refused.error_id)
        run.claim.mark(step.name, marker)
        _adopt(run, step, marker)
        run.story(f"{step.name}{REFUSED}", detail=str(refused))
        run.services.ops.telemetry.count(f"flagged_{step.name}")
        return
    run.claim.mark(step.name, marker)
    _adopt(run, step, marker)
    run.story(step.story, detail="found in Outreach" if recovered else None)


def _adopt(run: CallRun, step: WriteStep, marker: str) -> None:
    if marker.startswith(f"{step.name}{REFUSED}:"):
        run.flags.append(marker)  # a refusal is reported with the call, and not asked again
    else:
        step.adopt(run, marker)
