"""Property tests of the parsers that take outside input: Nooks events and Outreach webhook deliveries.
Whatever they are given, they answer (a value or their one documented error) and never pass a value on."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ingress.errors import fields as _fields
from schemas.events import CallCompletedEvent, EventEnvelope
from schemas.outreach_webhooks import is_stale, parse_delivery, reduce_delivery
from tests.support.hypothesis_strategies import MARKER, PROPERTIES, json_values
from tests.support.nooks import call_event

FIELDS = ["team_id", "rep_email", "call_id", "to", "from", "direction", "started_at", "answered_at",
          "duration_seconds", "prospect_id", "task_id", "disposition_id", "disposition", "notes", "recording_url",
          "complete_task"]


@PROPERTIES
@given(raw=json_values)
def test_any_json_is_an_event_or_a_422_naming_fields_without_values(raw: Any) -> None:
    for model in (EventEnvelope, CallCompletedEvent):
        try:
            model.model_validate(raw)
        except ValidationError as invalid:
            assert MARKER not in orjson.dumps(_fields(invalid)).decode()


@PROPERTIES
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_any_value_in_any_call_field_is_accepted_or_named_without_its_value(field: str, value: Any) -> None:
    event = call_event("call_prop")
    event["data"][field] = value
    try:
        parsed = CallCompletedEvent.model_validate(event)
    except ValidationError as invalid:
        problems = _fields(invalid)
        assert problems and MARKER not in orjson.dumps(problems).decode()
        return
    assert parsed.data.call_id  # accepted: a usable event


@PROPERTIES
@given(raw=json_values, attributes=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
       event_name=st.sampled_from(["task.updated", "prospect.created", "sequenceState.advanced", "x", "a.b.c"]),
       resource_id=st.one_of(st.integers(), st.text(max_size=20), st.none(), st.floats()))
def test_any_delivery_parses_and_its_reduction_keeps_no_value(raw: Any, attributes: dict[str, Any], event_name: str,
                                                              resource_id: Any) -> None:
    for body in (raw, {"data": {"type": "task", "id": resource_id, "attributes": attributes,
                                "relationships": raw}, "meta": {"eventName": event_name, "deliveredAt": raw}}):
        parsed = parse_delivery(body)
        is_stale(parsed, 1.8e9)
        change = reduce_delivery(parsed, team_id="team_acme", rep_email="ana@acme.com", webhook_id="7",
                                 event_id="evt", received_at=1)
        if change is not None:
            kept = change.model_dump_json()
            # Names of changed attributes are kept (they are field names, never values); values never are.
            values = [v for v in _strings(attributes.values()) if MARKER in v and v not in change.changed]
            assert not any(value in kept for value in values)


def _strings(values: Any) -> list[str]:
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            found += _strings(value.values())
        elif isinstance(value, list):
            found += _strings(value)
    return found
