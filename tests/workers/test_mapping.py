"""Pure mapping of a Nooks call onto Outreach's call resource."""

from __future__ import annotations

import pytest

from schemas.events import CallCompletedEvent
from tests.support.nooks import call_event
from workers.mapping import Links, call_attributes, call_relationships, dialed_number, e164


def data(**changes: object):  # type: ignore[no-untyped-def]
    return CallCompletedEvent.model_validate(call_event("call_1", **changes)).data


def test_answered_call_attributes() -> None:
    attributes = call_attributes(data())
    assert attributes == {
        "direction": "outbound", "outcome": "Answered", "to": "+14155551234", "from": "+14155550100",
        "dialedAt": "2026-11-29T12:58:00Z", "answeredAt": "2026-11-29T12:58:09Z",
        "completedAt": "2026-11-29T12:59:44Z", "note": "Wants pricing for 40 seats",
        "recordingUrl": "https://rec.nooks.example/c/8f3a1c.mp3", "externalVendor": "Nooks", "vendorCallId": "call_1",
    }
    assert "duration" not in attributes  # Outreach has no such attribute: it is completedAt - answeredAt


def test_unanswered_call_completes_from_its_start() -> None:
    attributes = call_attributes(data(answered_at=None, duration_seconds=20, notes=None, recording_url=None))
    assert attributes["outcome"] == "Not Answered"
    assert "answeredAt" not in attributes and "note" not in attributes and "recordingUrl" not in attributes
    assert attributes["completedAt"] == "2026-11-29T12:58:20Z"


def test_times_are_converted_to_utc() -> None:
    attributes = call_attributes(data(started_at="2026-11-29T07:58:00-05:00", answered_at=None, duration_seconds=0))
    assert attributes["dialedAt"] == "2026-11-29T12:58:00Z"


def test_relationships_leave_out_what_is_unknown() -> None:
    assert call_relationships(Links(prospect_id=3, user_id=1)) == {
        "prospect": {"data": {"type": "prospect", "id": 3}}, "user": {"data": {"type": "user", "id": 1}},
    }
    full = call_relationships(Links(3, 1, disposition_id=5, task_id=9, sequence_id=41, sequence_state_id=7,
                                    sequence_step_id=202))
    assert set(full) == {"prospect", "user", "callDisposition", "task", "sequence", "sequenceState", "sequenceStep"}
    assert full["callDisposition"] == {"data": {"type": "callDisposition", "id": 5}}


def test_dialed_number_follows_direction() -> None:
    assert dialed_number(data()) == "+14155551234"
    assert dialed_number(data(direction="inbound")) == "+14155550100"


@pytest.mark.parametrize("raw, expected", [
    ("+14155551234", "+14155551234"), ("+1 (415) 555-1234", "+14155551234"), ("(415) 555-1234", "+14155551234"),
    ("14155551234", "+14155551234"), ("0044 20 7946 0958", "+442079460958"), ("+44 20 7946 0958", "+442079460958"),
])
def test_e164(raw: str, expected: str) -> None:
    assert e164(raw) == expected
