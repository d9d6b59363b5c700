"""`after_call`: its shapes, the rules of the contract that tie its fields together, and how a team's rule and
the call's own fields merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.after_call import AfterCall, FollowUp, duration, merge, rule_problems
from schemas.events import CallCompletedEvent
from tests.support.nooks import call_event


def parsed(after_call: Any, **data: Any) -> CallCompletedEvent:
    return CallCompletedEvent.model_validate(call_event(after_call=after_call, **data))


def problems(after_call: Any, **data: Any) -> dict[str, str]:
    return dict(parsed(after_call, **data).data.after_call_problems())


def test_the_contract_example() -> None:
    data = parsed({"sequence": "finish_replied",
                   "follow_up": {"due_at": "2026-12-01T15:00:00Z", "note": "Send pricing"}}).data
    assert data.after_call is not None and data.after_call.sequence == "finish_replied"
    assert data.after_call_problems() == []
    assert data.task_action(data.after_call) == "complete"


@pytest.mark.parametrize(("after_call", "field"), [
    ({"task": "delete"}, ("data", "after_call", "task")),
    ({"sequence": "restart"}, ("data", "after_call", "sequence")),
    ({"opt_out_of_calls": "maybe"}, ("data", "after_call", "opt_out_of_calls")),
    ({"add_to_sequence": {"sequence_id": 0}}, ("data", "after_call", "add_to_sequence", "sequence_id")),
    ({"add_to_sequence": {}}, ("data", "after_call", "add_to_sequence", "sequence_id")),
    ({"task": "reschedule", "task_due_at": "2026-12-01T15:00:00"}, ("data", "after_call", "task_due_at")),
    ({"follow_up": {"due_at": "2026-12-01 15:00"}}, ("data", "after_call", "follow_up", "due_at")),
    ({"follow_up": {"after": "P1M"}}, ("data", "after_call", "follow_up", "after")),
    ({"follow_up": {"after": "P0D"}}, ("data", "after_call", "follow_up", "after")),
    ({"follow_up": {"after": "2 days"}}, ("data", "after_call", "follow_up", "after")),
    ("finish", ("data", "after_call")),
])
def test_shapes_refused_name_the_field(after_call: Any, field: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        parsed(after_call)
    assert field in [tuple(e["loc"]) for e in info.value.errors()]


@pytest.mark.parametrize(("after_call", "data", "field"), [
    ({"task": "reschedule"}, {}, "data.after_call.task_due_at"),
    ({"task": "reschedule", "task_due_at": "2026-12-01T15:00:00Z"}, {"task_id": None}, "data.after_call.task"),
    ({"sequence": "finish_no_reply", "task": "keep"}, {}, "data.after_call.sequence"),
    ({"sequence": "finish_replied"}, {"complete_task": False}, "data.after_call.sequence"),
    ({"sequence": "finish_replied"}, {"task_id": None}, "data.after_call.sequence"),
    ({"follow_up": {"note": "x"}}, {}, "data.after_call.follow_up"),
    ({"follow_up": {"after": "P2D", "due_at": "2026-12-01T15:00:00Z"}}, {}, "data.after_call.follow_up"),
])
def test_rules_between_fields(after_call: dict[str, Any], data: dict[str, Any], field: str) -> None:
    assert field in problems(after_call, **data)


def test_what_is_accepted() -> None:
    assert problems({"task": "reschedule", "task_due_at": "2026-12-01T15:00:00+01:00"}) == {}
    # after_call.task wins over complete_task
    assert problems({"task": "complete", "sequence": "finish_no_reply"}, complete_task=False) == {}
    assert problems({"sequence": "pause", "task": "keep"}) == {}
    assert problems({"sequence": "pause"}, task_id=None) == {}  # only Outreach can tell: flagged, not refused
    assert problems({"opt_out_of_calls": True, "add_to_sequence": {"sequence_id": 43},
                     "follow_up": {"after": "P1W2DT3H"}}) == {}
    assert problems({}, task_id=None) == {}


def test_task_action_defaults() -> None:
    data = parsed(None).data
    assert data.task_action(None) == "complete"
    assert parsed(None, complete_task=False).data.task_action(None) == "keep"
    assert parsed(None, task_id=None).data.task_action(AfterCall(task="complete")) is None


def test_durations() -> None:
    assert duration("P2D") == timedelta(days=2)
    assert duration("PT90M") == timedelta(minutes=90)
    assert duration("P1W") == timedelta(weeks=1)
    assert duration("P366D") == timedelta(days=366)
    for refused in ("P367D", "P", "PT", "P1Y", "P1M", "-P1D", "P1.5D", "P2DT", "pt1h"):
        assert duration(refused) is None, refused
    end = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    assert FollowUp(after="P2D").due(end) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert FollowUp(due_at=at).due(end) == at


def test_rule_problems() -> None:
    assert rule_problems(AfterCall.model_validate({"follow_up": {"after": "P2D"}, "sequence": "finish_replied"})) == []
    assert dict(rule_problems(AfterCall.model_validate({"follow_up": {"due_at": "2026-12-01T15:00:00Z"}}))) == {
        "follow_up.due_at": "a rule's follow-up takes after (a duration), not due_at"}
    assert "follow_up" in dict(rule_problems(AfterCall.model_validate({"follow_up": {}})))
    assert "task" in dict(rule_problems(AfterCall(task="reschedule")))
    assert "sequence" in dict(rule_problems(AfterCall(task="keep", sequence="finish_no_reply")))


def test_merge_field_by_field_and_follow_up_whole() -> None:
    rule = AfterCall.model_validate({"sequence": "finish_no_reply", "opt_out_of_calls": True,
                                     "follow_up": {"after": "P2D", "note": "from the rule"}})
    own = AfterCall.model_validate({"sequence": "pause", "follow_up": {"after": "PT4H"}})
    merged = merge(rule, own)
    assert merged is not None
    assert merged.sequence == "pause" and merged.opt_out_of_calls is True
    assert merged.follow_up == FollowUp(after="PT4H")  # whole: the rule's note does not leak in
    assert merge(None, own) is own and merge(rule, None) is rule and merge(None, None) is None
    # A field the call sets to null still replaces the rule's.
    cleared = merge(rule, AfterCall.model_validate({"follow_up": None}))
    assert cleared is not None and cleared.follow_up is None and cleared.sequence == "finish_no_reply"
