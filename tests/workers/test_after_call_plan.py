"""`plan`: what a call's outcome asks of Outreach, from the event and the team's rule (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.after_call import AfterCall, merge
from schemas.events import CallCompletedEvent
from tests.support.nooks import call_event
from workers.after_call import MAX_NOTE, Plan, follow_up_note, plan


def call(**data: Any) -> Any:
    return CallCompletedEvent.model_validate(call_event("call_plan", **data)).data


def test_without_after_call_the_task_is_completed_as_before() -> None:
    assert plan(call(), None) == Plan(task="complete")
    assert plan(call(complete_task=False), None) == Plan(task="keep")
    assert plan(call(task_id=None), None) == Plan(task=None)


def test_each_field() -> None:
    after = AfterCall.model_validate({
        "sequence": "finish_no_reply", "follow_up": {"after": "P2D", "note": "n"}, "opt_out_of_calls": True,
        "add_to_sequence": {"sequence_id": 43}})
    got = plan(call(), after)
    assert got.task == "complete" and got.completion_action == "finish_no_reply" and not got.pause
    assert got.follow_up_due == datetime(2026, 12, 1, 12, 59, 44, tzinfo=UTC)  # from the call's end
    assert (got.follow_up_note, got.opt_out, got.enrol_sequence_id, got.refused) == ("n", True, 43, ())
    due = datetime(2026, 12, 2, 9, tzinfo=UTC)
    rescheduled = plan(call(), AfterCall(task="reschedule", task_due_at=due, sequence="pause"))
    assert (rescheduled.task, rescheduled.task_due_at, rescheduled.pause) == ("reschedule", due, True)
    assert plan(call(), AfterCall(sequence="advance")).completion_action is None


def test_a_rule_merged_into_a_call_that_keeps_its_task_skips_the_finish() -> None:
    merged = merge(AfterCall(sequence="finish_replied"), AfterCall(task="keep"))
    got = plan(call(), merged)
    assert got.task == "keep" and got.completion_action is None
    assert got.refused == ("sequence_refused:task_not_completed",)


def test_the_follow_up_note_ends_with_the_marker() -> None:
    assert follow_up_note("call_1", None) == "[nooks:call_1]"
    assert follow_up_note("call_1", "Send pricing") == "Send pricing\n\n[nooks:call_1]"
    long = follow_up_note("call_1", "x" * MAX_NOTE)
    assert len(long) == MAX_NOTE and long.endswith("[nooks:call_1]")
