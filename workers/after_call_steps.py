"""The after-call actions, each a step of the call (workers/pipeline.py runs them after the call is written and
its task completed): reschedule the task, pause its sequence state, a follow-up call task, the opt-out of calls,
the enrolment in a sequence. Each has its done-check in Outreach, so none is done twice for one call_id.

A step that only Outreach's data rules out (no sequence state to pause, no mailbox that may send) raises
`Refused(<reason>)`: the event is flagged `<step>_refused:<reason>` and the other steps go on, as after a 4xx.
"""

from __future__ import annotations

from datetime import datetime

from outreach import api
from schemas.after_call import merge
from schemas.outcome_rules import OutcomeRules
from schemas.times import normalize_timestamp, outreach_time
from workers.after_call import Plan, follow_up_note, plan
from workers.outcome import Refused
from workers.pipeline import CallRun, Check, ReadStep, WriteStep


def _plan(run: CallRun) -> Plan:
    assert run.plan is not None, "ReadOutcome runs before the after-call steps"
    return run.plan


async def _as_int(found: Check) -> int | None:
    marker = await found()
    return int(marker) if marker is not None and marker.isdigit() else None


class ReadOutcome(ReadStep):
    """The team's rule for the call's disposition, merged with the call's own `after_call`, as a `Plan`. Only a
    call with a disposition reads the team's rules (one Redis read; nothing from Outreach)."""

    async def read(self, run: CallRun) -> None:
        disposition_id = run.resolved.disposition_id
        rules = (await run.services.stores.outcome_rules.rules(run.call.team_id) if disposition_id is not None
                 else OutcomeRules(rules=[]))
        run.plan = plan(run.call, merge(rules.for_disposition(disposition_id), run.call.after_call))
        run.flags.extend(run.plan.refused)


class RescheduleTask(WriteStep):
    """`reschedule` with `actionParams[dueAt]`; done when the task is due at that time."""

    name = "reschedule"
    story = "task_rescheduled"

    def wanted(self, run: CallRun) -> bool:
        return _plan(run).task == "reschedule" and run.task is not None

    def _due(self, run: CallRun) -> str:
        due = _plan(run).task_due_at
        assert due is not None, "a reschedule has its time (schemas/after_call.py)"
        return outreach_time(due)

    async def found(self, run: CallRun) -> str | None:
        task = await api.get_one(run.rep, "tasks", run.task.id, params={"fields[task]": "dueAt"})
        due = task.attributes.get("dueAt") if task is not None else None
        same = isinstance(due, str) and normalize_timestamp(due) == self._due(run)
        return str(run.task.id) if same else None

    async def act(self, run: CallRun, found: Check) -> str:
        if run.task.attributes.get("state") == "complete" and not run.resuming:
            raise Refused("task_complete")
        return str(await api.reschedule_task(run.rep, run.task.id, self._due(run),
                                             done=lambda: _as_int(found)))


class PauseSequence(WriteStep):
    """`POST /sequenceStates/{id}/actions/pause` on the task's sequence state; done when it is paused."""

    name = "pause"
    story = "sequence_paused"

    def wanted(self, run: CallRun) -> bool:
        return _plan(run).pause

    async def found(self, run: CallRun) -> str | None:
        state_id = run.resolved.sequence_state_id
        if state_id is None:
            return None
        return str(state_id) if await api.sequence_state_status(run.rep, state_id) == "paused" else None

    async def act(self, run: CallRun, found: Check) -> str:
        state_id = run.resolved.sequence_state_id
        if state_id is None:
            raise Refused("no_sequence_state")  # only Outreach could tell: the task has none (or no task)
        return str(await api.pause_sequence_state(run.rep, state_id, done=lambda: _as_int(found)))


class FollowUp(WriteStep):
    """One new call task for the rep on the call's prospect. Its note ends with `[nooks:<call_id>]`, which only
    this service writes: the done-check finds the task by it (the rep's tasks on the prospect due at that time)."""

    name = "follow_up"
    story = "follow_up_created"

    def wanted(self, run: CallRun) -> bool:
        return _plan(run).follow_up_due is not None

    def _due(self, run: CallRun) -> datetime:
        due = _plan(run).follow_up_due
        assert due is not None, "wanted"
        return due

    async def found(self, run: CallRun) -> str | None:
        marker = follow_up_note(run.call.call_id, None)
        task_id = await api.task_with_note(run.rep, run.resolved.prospect_id, run.user_id, self._due(run), marker)
        return str(task_id) if task_id is not None else None

    async def act(self, run: CallRun, found: Check) -> str:
        note = follow_up_note(run.call.call_id, _plan(run).follow_up_note)
        return str(await api.create_call_task(run.rep, run.user_id, run.resolved.prospect_id,
                                              outreach_time(self._due(run)), note,
                                              done=lambda: _as_int(found)))


class OptOutOfCalls(WriteStep):
    """`PATCH /prospects/{id}` `callsOptStatus: "opted_out"`: the same value written twice does no harm, so an
    attempt that resumes writes it again rather than reading first."""

    name = "opt_out"
    story = "opted_out_of_calls"
    check_on_resume = False

    def wanted(self, run: CallRun) -> bool:
        return _plan(run).opt_out

    async def found(self, run: CallRun) -> str | None:
        status = await api.calls_opt_status(run.rep, run.resolved.prospect_id)
        return str(run.resolved.prospect_id) if status == "opted_out" else None

    async def act(self, run: CallRun, found: Check) -> str:
        return str(await api.opt_out_of_calls(run.rep, run.resolved.prospect_id))


class Enrol(WriteStep):
    """`POST /sequenceStates` for the prospect, the sequence and the rep's first mailbox that may send; done when
    the prospect has a sequence state in that sequence that is not finished. Outreach refuses (4xx) a prospect
    already active there: on a first attempt that is a refusal, flagged."""

    name = "enrol"
    story = "enrolled_in_sequence"

    def wanted(self, run: CallRun) -> bool:
        return _plan(run).enrol_sequence_id is not None

    def _sequence(self, run: CallRun) -> int:
        sequence_id = _plan(run).enrol_sequence_id
        assert sequence_id is not None, "wanted"
        return sequence_id

    async def found(self, run: CallRun) -> str | None:
        state_id = await api.enrolment_of(run.rep, run.resolved.prospect_id, self._sequence(run))
        return str(state_id) if state_id is not None else None

    async def act(self, run: CallRun, found: Check) -> str:
        mailbox_id = await api.sending_mailbox_id(run.rep, run.user_id)
        if mailbox_id is None:
            raise Refused("no_mailbox")
        return str(await api.enrol(run.rep, run.resolved.prospect_id, self._sequence(run), mailbox_id,
                                   done=lambda: _as_int(found)))


AFTER_CALL_STEPS: tuple[WriteStep, ...] = (RescheduleTask(), PauseSequence(), FollowUp(), OptOutOfCalls(), Enrol())
