"""The Nooks event schema: what is required, what is defaulted, what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.events import CallCompletedEvent, EventEnvelope
from tests.support.nooks import call_event


def test_contract_example_parses() -> None:
    event = CallCompletedEvent.model_validate(call_event("call_8f3a1c"))
    assert event.data.call_id == "call_8f3a1c"
    assert event.data.from_ == "+14155550100"
    assert event.data.task_action(event.data.after_call) == "complete"


@pytest.mark.parametrize("missing", ["team_id", "rep_email", "call_id", "to", "started_at"])
def test_required_fields(missing: str) -> None:
    event = call_event()
    del event["data"][missing]
    with pytest.raises(ValidationError) as info:
        CallCompletedEvent.model_validate(event)
    assert ("data", missing) in [tuple(e["loc"]) for e in info.value.errors()]


def test_call_id_is_at_most_63_characters() -> None:
    CallCompletedEvent.model_validate(call_event("c" * 63))
    with pytest.raises(ValidationError):
        CallCompletedEvent.model_validate(call_event("c" * 64))


def test_optional_fields_and_defaults() -> None:
    event = call_event(prospect_id=None, task_id=None, disposition_id=None, answered_at=None, complete_task=None)
    data = CallCompletedEvent.model_validate(event).data
    assert data.prospect_id is None and data.answered_at is None
    assert data.task_action(None) is None  # no task: nothing to complete


def test_complete_task_defaults_to_true_with_a_task_and_can_be_refused() -> None:
    assert CallCompletedEvent.model_validate(call_event(complete_task=None)).data.task_action(None) == "complete"
    assert CallCompletedEvent.model_validate(call_event(complete_task=False)).data.task_action(None) == "keep"


def test_unknown_fields_are_ignored_and_email_is_normalised() -> None:
    event = call_event(rep_email="Ana@ACME.com")
    event["data"]["dialer_version"] = "9.1"
    event["surprise"] = True
    assert CallCompletedEvent.model_validate(event).data.rep_email == "ana@acme.com"


@pytest.mark.parametrize("field, value", [
    ("started_at", "yesterday"), ("started_at", "2026-11-29T12:58:00"),  # naive time is ambiguous
    ("prospect_id", 0), ("prospect_id", "abc"), ("direction", "sideways"), ("duration_seconds", -1),
    ("recording_url", "ftp://x/y.mp3"), ("rep_email", "not-an-email"), ("team_id", "team acme"),
    ("answered_at", "2026-11-29T12:57:00Z"),  # before started_at
])
def test_bad_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        CallCompletedEvent.model_validate(call_event(**{field: value}))


def test_other_event_types_only_need_the_envelope() -> None:
    envelope = EventEnvelope.model_validate({"id": "evt_1", "type": "call.started", "data": {}})
    assert envelope.type == "call.started"
