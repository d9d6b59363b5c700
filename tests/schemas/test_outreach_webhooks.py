"""Parsing and reducing Outreach deliveries: every odd shape is accepted, nothing raises, no value survives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.outreach_webhooks import (
    ReducedChange,
    build_notification,
    change_key,
    event_key,
    notification_id,
    parse_delivery,
    reduce_delivery,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "outreach"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def reduce(raw: Any, event_id: str = "evt-1") -> ReducedChange | None:
    return reduce_delivery(parse_delivery(raw), team_id="team_acme", rep_email="ana@acme.com", webhook_id="7",
                           event_id=event_id, received_at=1_700_000_000_000)


def test_recorded_task_created() -> None:
    parsed = parse_delivery(load("webhook-task-created.json"))
    assert (parsed.resource, parsed.action, parsed.resource_id, parsed.event) == ("task", "created", 2,
                                                                                  "task.created")
    assert parsed.related == {"mailing": 1, "owner": 1, "prospect": 3, "sequence": 2, "sequenceState": 1,
                              "sequenceStep": 14, "taskPriority": 3, "taskTheme": 1}
    assert parsed.changed == ["dueAt", "taskType"]  # the record's own timestamps are not "changes"
    assert parsed.updated_at == "2018-09-26T18:15:26.000Z"
    assert parsed.delivered_at == "2018-09-26T11:15:28.343-07:00"


def test_recorded_task_updated_complete() -> None:
    parsed = parse_delivery(load("webhook-task-updated-complete.json"))
    assert (parsed.event, parsed.resource_id) == ("task.updated", 2)
    assert parsed.related == {"completer": 1}
    assert parsed.changed == ["state", "stateChangedAt"]


def test_recorded_sequence_state_created() -> None:
    parsed = parse_delivery(load("webhook-sequenceState-created.json"))
    assert (parsed.event, parsed.resource_id) == ("sequenceState.created", 1)
    assert parsed.related == {"mailbox": 2, "prospect": 3, "sequence": 2}
    assert parsed.changed == ["state", "stateChangedAt"]


def test_bare_event_with_only_type_and_id() -> None:
    parsed = parse_delivery({"data": {"type": "task", "id": 1122}, "meta": {"eventName": "task.completed",
                                                                            "deliveredAt": "2026-11-29T13:00Z"}})
    assert (parsed.event, parsed.resource_id, parsed.related, parsed.changed) == ("task.completed", 1122, {}, [])
    assert parsed.updated_at is None
    change = reduce({"data": {"type": "task", "id": 1122}, "meta": {"eventName": "task.completed",
                                                                    "deliveredAt": "2026-11-29T13:00Z"}})
    assert change is not None
    assert change.change_key == event_key("team_acme", "task", 1122, "task.completed", "2026-11-29T13:00Z")


def test_relationship_shapes() -> None:
    parsed = parse_delivery({"data": {"type": "task", "id": 5, "relationships": {
        "prospect": {"type": "prospect", "id": 3},          # Outreach's own shape
        "owner": {"type": "owner", "id": 1},                # type = relationship name
        "account": {"id": 501},                             # no type
        "sequence": {"type": "sequence", "id": None},       # null id
        "sequenceStep": {"data": {"type": "sequenceStep", "id": 202}},  # JSON:API shape
        "sequenceState": {"data": None},
        "call": None,
        "mailbox": "12",                                    # a bare id, as a string
        "calls": [{"type": "call", "id": 1}],               # to-many: left out
        "opportunity": {"type": "opportunity"},             # no id at all
        "taskTheme": {"id": True},                          # a bool is not an id
        "taskPriority": {"id": "not-a-number"},
        "bad name!": {"id": 9},                             # not an identifier: left out
    }}, "meta": {"eventName": "task.updated"}})
    assert parsed.related == {"prospect": 3, "owner": 1, "account": 501, "sequence": None, "sequenceStep": 202,
                              "sequenceState": None, "call": None, "mailbox": 12, "taskTheme": None,
                              "taskPriority": None}


def test_empty_attributes_no_op_update() -> None:
    parsed = parse_delivery({"data": {"type": "prospect", "id": 9, "attributes": {}, "relationships": {}},
                             "meta": {"eventName": "prospect.updated"}})
    assert (parsed.event, parsed.changed, parsed.related, parsed.updated_at) == ("prospect.updated", [], {}, None)


def test_a_date_time_outside_datetimes_range_is_no_crash() -> None:
    # Valid ISO 8601 whose UTC instant is past year 9999: read as no date-time, never an OverflowError (a 500).
    for moment in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"):
        change = reduce({"data": {"type": "task", "id": 1, "attributes": {"state": "complete", "updatedAt": moment}},
                         "meta": {"eventName": "task.updated", "deliveredAt": moment}})
        assert change is not None and change.resource_id == 1


def test_unknown_resource_and_action() -> None:
    parsed = parse_delivery({"data": {"type": "mailing", "id": 4, "attributes": {"bouncedAt": "x"}},
                             "meta": {"eventName": "mailing.bounced"}})
    assert (parsed.resource, parsed.action, parsed.changed) == ("mailing", "bounced", ["bouncedAt"])


@pytest.mark.parametrize("where", ["meta", "data"])
def test_payload_version_2_before_update(where: str) -> None:
    body: dict[str, Any] = {"data": {"type": "prospect", "id": 3, "attributes": {
        "title": "Chief Zebra Officer", "firstName": "Dana", "updatedAt": "2026-11-29T13:00:00.000Z"}},
        "meta": {"eventName": "prospect.updated", "payloadVersion": 2}}
    body[where]["beforeUpdate"] = {"title": "VP Sales", "updatedAt": "2026-11-28T13:00:00.000Z"}
    parsed = parse_delivery(body)
    assert parsed.changed == ["title"]  # what beforeUpdate names, not the whole record
    assert parsed.updated_at == "2026-11-29T13:00:00.000Z"


def test_event_name_missing_or_odd() -> None:
    assert parse_delivery({"data": {"type": "task", "id": 1}}).event == "task.unknown"
    assert parse_delivery({"data": {"type": "task", "id": 1}, "meta": {"eventName": "a.b.c"}}).event == \
        "task.unknown"
    assert parse_delivery({"data": {"id": 1}, "meta": {"eventName": "call.created"}}).event == "call.created"
    assert parse_delivery({"data": {"type": 7, "id": 1}, "meta": {"eventName": 42}}).resource is None


@pytest.mark.parametrize("raw", [
    None, [], [1, 2], "text", 3, True, {}, {"data": None}, {"data": []}, {"data": "x"}, {"meta": []},
    {"data": {"type": "task"}}, {"data": {"type": "task", "id": "abc"}}, {"data": {"type": "task", "id": -1}},
    {"data": {"type": "task", "id": 1.5}}, {"data": {"type": "task", "id": 1, "attributes": [1, 2]}},
    {"data": {"type": "task", "id": 1, "attributes": "x", "relationships": [1]}},
    {"data": {"type": "task", "id": 1, "attributes": {"updatedAt": 17}}},
    {"data": {"type": "task", "id": 1}, "meta": {"beforeUpdate": "x", "deliveredAt": 5}},
    {"data": {"type": "x" * 500, "id": 1}},
])
def test_garbage_never_raises(raw: Any) -> None:
    parsed = parse_delivery(raw)
    change = reduce(raw)
    if parsed.resource is None or parsed.resource_id is None:
        assert change is None
    else:
        assert change is not None and change.change_key


def test_reduction_keeps_names_and_ids_only() -> None:
    body = {"data": {"type": "prospect", "id": 3456, "attributes": {
        "title": "Chief Zebra Officer", "emails": ["zebra@globex.example"], "updatedAt": "2026-11-29T13:00:00Z"},
        "relationships": {"owner": {"type": "owner", "id": 1}}}, "meta": {"eventName": "prospect.updated"}}
    change = reduce(body)
    assert change is not None
    dumped = change.model_dump_json()
    for value in ("Chief Zebra Officer", "zebra@globex.example", "2026-11-29T13:00:00"):
        assert value not in dumped
    assert change.changed == ["emails", "title"] and change.related == {"owner": 1}
    notification = build_notification(change, ["ana@acme.com"])
    assert "Zebra" not in notification.model_dump_json()
    assert notification.type == "outreach.prospect.updated"
    assert notification.id == notification_id(change) and notification.id.startswith("ntf_")


def test_change_key_is_the_same_instant_however_written() -> None:
    keys = {change_key("t", "task", 1, stamp) for stamp in (
        "2018-09-26T18:54:27.000Z", "2018-09-26T18:54:27Z", "2018-09-26T18:54:27+00:00",
        "2018-09-26T11:54:27.000-07:00")}
    assert len(keys) == 1
    assert change_key("t", "task", 1, "2018-09-26T18:54:27.001Z") not in keys
    assert change_key("u", "task", 1, "2018-09-26T18:54:27Z") not in keys


def test_webhook_and_reconciliation_share_the_notification_id() -> None:
    body = orjson.loads((FIXTURES / "webhook-task-updated-complete.json").read_bytes())
    from_webhook = reduce(body)
    assert from_webhook is not None
    from_reconciliation = ReducedChange(
        source="reconciliation", event_id="rc-x", event="task.updated", resource="task", action="updated",
        resource_id=2, change_key=change_key("team_acme", "task", 2, "2018-09-26T18:54:27.000Z"),
        team_id="team_acme", rep_email="ana@acme.com")
    assert notification_id(from_webhook) == notification_id(from_reconciliation)
    # A re-delivery with a new event id is the same change.
    again = reduce(body, event_id="evt-2")
    assert again is not None and notification_id(again) == notification_id(from_webhook)


@pytest.mark.parametrize("odd_id", ["²", "١٢٣", "①"])
def test_unicode_digits_are_no_id(odd_id: str) -> None:
    """`str.isdigit` is true for these and `int()` refuses them: they must read as no id, never raise."""
    parsed = parse_delivery({"data": {"type": "task", "id": odd_id, "relationships": {"prospect": {"id": odd_id}}},
                             "meta": {"eventName": "task.updated"}})
    assert parsed.resource_id is None and parsed.related == {"prospect": None}
