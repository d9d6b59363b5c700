"""workers/pipeline.py: the one loop over a call's steps, with steps made for the test, over a real Redis ledger.

Resuming after a failure or a crash is the same loop: steps marked done are not done again, a refusal is reported
again without asking Outreach again, and a step an earlier attempt may have done is asked whether it is done."""

from __future__ import annotations

from typing import ClassVar

import pytest

from outreach.errors import OutreachRejected, OutreachUnavailable
from runtime.services import Services
from schemas.events import CallCompletedEvent
from store import keys
from tests.support.nooks import call_event
from tests.support.outreach_hooks import services_for
from tests.support.service import Service
from workers.outcome import Finished, Refused
from workers.pipeline import CallRun, Check, ReadStep, WriteStep, run_steps

TEAM, CALL, REP = "team_acme", "call_steps", "ana@acme.com"


class Journal:
    def __init__(self) -> None:
        self.lines: list[str] = []


class Read(ReadStep):
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def read(self, run: CallRun) -> None:
        self.journal.lines.append("read")


class Write(WriteStep):
    """A step that answers `marker`; `done_in_outreach`: what its done-check finds; `fail`: errors its act raises,
    one per act, before it succeeds."""

    name: ClassVar[str] = "write"
    story: ClassVar[str] = "written"

    def __init__(self, journal: Journal, marker: str, *, done_in_outreach: str | None = None,
                 fail: list[Exception] | None = None) -> None:
        self.journal, self.marker, self.done_in_outreach, self.fail = journal, marker, done_in_outreach, fail or []

    async def found(self, run: CallRun) -> str | None:
        self.journal.lines.append(f"ask {self.name}")
        return self.done_in_outreach

    async def act(self, run: CallRun, found: Check) -> str:
        self.journal.lines.append(f"act {self.name}")
        if self.fail:
            raise self.fail.pop(0)
        return self.marker


class First(Write):
    """Stands in for writing the call: its marker is the Outreach call id."""

    name = "first"
    story = "first_done"

    def adopt(self, run: CallRun, marker: str) -> None:
        run.outreach_call_id = int(marker)


class Second(Write):
    name = "second"
    story = "second_done"


class Third(Write):
    name = "third"
    story = "third_done"


async def _attempt(services: Services, steps: list[ReadStep | WriteStep]) -> Finished:
    call = CallCompletedEvent.model_validate(call_event(CALL)).data
    async with services.stores.calls.claim(TEAM, CALL, REP, lock_ms=5_000) as claim:
        rep = services.outreach.client.for_rep(TEAM, REP)
        return await run_steps(CallRun(services, "evt_steps", call, claim, rep, 1, claim.attempts), steps)


async def test_a_refused_step_is_flagged_later_steps_run_and_a_retry_resumes_after_what_is_done(svc: Service) -> None:
    journal = Journal()
    first, third = First(journal, "77"), Third(journal, "9", fail=[OutreachUnavailable("Outreach answered 503")])
    second = Second(journal, "-", fail=[OutreachRejected(409, "conflict", None)])
    steps: list[ReadStep | WriteStep] = [Read(journal), first, second, third]
    async with services_for(svc) as ctx:
        services: Services = ctx["services"]
        with pytest.raises(OutreachUnavailable):
            await _attempt(services, steps)
        # A first attempt asks nothing: nothing can be done yet. The refusal did not stop the third step.
        assert journal.lines == ["read", "act first", "act second", "act third"]
        ledger = await svc.redis.hgetall(keys.call_state(TEAM, CALL))
        assert ledger[b"step:first"] == b"77" and ledger[b"step:second"] == b"second_refused:409:conflict"
        assert b"step:third" not in ledger and b"done" not in ledger

        journal.lines.clear()
        finished = await _attempt(services, steps)
    # The retry reads again, skips what is done, reports the refusal without asking again, and asks the step that
    # failed whether it was done after all before acting.
    assert journal.lines == ["read", "ask third", "act third"]
    assert finished == Finished(77, ("second_refused:409:conflict",))
    ledger = await svc.redis.hgetall(keys.call_state(TEAM, CALL))
    assert ledger[b"step:third"] == b"9" and ledger[b"done"] == b"1"
    story = (await svc.ops_api("GET", "/ops/api/events/evt_steps"))[1]
    assert [step["step"] for step in story["steps"]] == ["first_done", "second_refused", "third_done"]
    assert story["steps"][1]["detail"] == "Outreach answered 409 conflict"


async def test_a_step_done_in_outreach_without_its_marker_is_adopted_not_done_again(svc: Service) -> None:
    """A worker killed after the write and before its marker: the next attempt's done-check finds it."""
    journal = Journal()
    await svc.redis.hset(keys.call_state(TEAM, CALL), "attempts", 1)  # an attempt held the call before
    steps: list[ReadStep | WriteStep] = [First(journal, "77", done_in_outreach="76"), Second(journal, "5")]
    async with services_for(svc) as ctx:
        finished = await _attempt(ctx["services"], steps)
    assert journal.lines == ["ask first", "ask second", "act second"]
    assert finished == Finished(76, ())
    assert (await svc.figures(first_recovered=1))["first_recovered"] == 1
    story = (await svc.ops_api("GET", "/ops/api/events/evt_steps"))[1]
    assert [(step["step"], step.get("detail")) for step in story["steps"]] == [
        ("first_done", "found in Outreach"), ("second_done", None)]


async def test_an_essential_steps_refusal_ends_the_attempt(svc: Service) -> None:
    journal = Journal()

    class Essential(First):
        essential = True

    steps: list[ReadStep | WriteStep] = [
        Essential(journal, "1", fail=[OutreachRejected(422, "validationError", None)]), Second(journal, "2")]
    async with services_for(svc) as ctx:
        with pytest.raises(OutreachRejected):
            await _attempt(ctx["services"], steps)
    assert journal.lines == ["act first"]
    assert await svc.redis.hget(keys.call_state(TEAM, CALL), "step:first") is None


async def test_a_step_refused_by_what_outreach_holds_is_flagged_like_a_4xx(svc: Service) -> None:
    """E.g. no mailbox that may send: the step says so, the event is flagged naming it, the later steps run."""
    journal = Journal()
    steps: list[ReadStep | WriteStep] = [First(journal, "77"), Second(journal, "-", fail=[Refused("no_mailbox")]),
                                         Third(journal, "9")]
    async with services_for(svc) as ctx:
        finished = await _attempt(ctx["services"], steps)
    assert journal.lines == ["act first", "act second", "act third"]
    assert finished == Finished(77, ("second_refused:no_mailbox",))
    assert await svc.redis.hget(keys.call_state(TEAM, CALL), "step:second") == b"second_refused:no_mailbox"
