"""Zulip style: each recorded Nooks event in tests/fixtures/nooks/ is signed, posted to the real endpoint and
followed through the worker into the Outreach sandbox, beside what it must become."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.service import Service, eventually

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nooks"

# fixture → (HTTP status, answer status or None, what the logged call must be: None = no call)
EXPECTED: dict[str, tuple[int, str | None, dict[str, Any] | None]] = {
    "call-completed.json": (202, "queued", {
        "call_id": "call_8f3a1c", "outcome": "Answered", "note": "Wants pricing for 40 seats",
        "related": {"prospect": 3456, "task": 1122, "callDisposition": 1, "user": 1}, "task_state": "complete",
    }),
    "call-completed-minimal.json": (202, "queued", {  # no prospect: found by the dialed number
        "call_id": "call_9b2d4e", "outcome": "Not Answered", "note": None,
        "related": {"prospect": 3456, "task": None, "callDisposition": None, "user": 1},
        "task_state": "incomplete",
    }),
    "call-completed-disposition-name.json": (202, "queued", {  # extra fields ignored; disposition by name
        "call_id": "call_3c5e7a", "outcome": "Not Answered", "note": None,
        "related": {"prospect": 3456, "task": None, "callDisposition": 1, "user": 1},
        "task_state": "incomplete",
    }),
    "call-completed-after-call.json": (202, "queued", {  # the contract's example: a finish and a follow-up
        "call_id": "call_5a7c9e", "outcome": "Answered", "note": "Wants pricing for 40 seats",
        "related": {"prospect": 3456, "task": 1122, "callDisposition": 1, "user": 1}, "task_state": "complete",
        "sequence_state": "finished",
        "follow_up": {"dueAt": "2026-12-01T15:00:00.000Z", "note": "Send pricing\n\n[nooks:call_5a7c9e]"},
    }),
    "call-completed-after-call-invalid.json": (422, None, None),
    "call-started.json": (202, "ignored", None),
    "call-completed-invalid.json": (422, None, None),
}


def test_every_nooks_fixture_has_an_expectation() -> None:
    assert {path.name for path in FIXTURES.glob("*.json")} == set(EXPECTED)


def _related(call: dict[str, Any]) -> dict[str, Any]:
    return {name: (value.get("data") or {}).get("id") for name, value in call["relationships"].items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_recorded_nooks_event_through_the_real_handler(svc: Service, name: str) -> None:
    await svc.connect()
    status, answer_status, logged = EXPECTED[name]
    raw = (FIXTURES / name).read_bytes()
    code, answer = await svc.post_event(raw, msg_id=f"msg_{name}")
    assert code == status, answer
    if answer_status is not None:
        assert answer == {"status": answer_status, "event_id": f"msg_{name}"}
    if logged is None:
        assert await svc.calls() == []
        return
    calls = await eventually(lambda: svc.calls(logged["call_id"]))
    assert len(calls) == 1
    attributes = calls[0]["attributes"]
    assert attributes["outcome"] == logged["outcome"] and attributes.get("note") == logged["note"]
    assert attributes["externalVendor"] == "Nooks"
    related = _related(calls[0])
    for relationship, record_id in logged["related"].items():
        assert related.get(relationship) == record_id, relationship
    async def task_state() -> bool:
        return await svc.task_state(1122) == logged["task_state"]

    assert await eventually(task_state)
    if "sequence_state" in logged:  # the outcome carried through: sequence state 7001 is task 1122's
        async def finished() -> bool:
            return (await svc.sandbox.record("sequenceState", 7001))["attributes"]["state"] == logged["sequence_state"]
        assert await eventually(finished)
    if "follow_up" in logged:
        async def follow_up() -> list[dict[str, Any]]:
            return [{k: t["attributes"][k] for k in ("dueAt", "note")} for t in await svc.sandbox.records("task")
                    if t["attributes"].get("taskType") == "manual"]
        assert await eventually(follow_up) == [logged["follow_up"]]
    assert (await svc.post_event(raw, msg_id=f"msg_{name}"))[0] == 200  # the same delivery again: a duplicate


async def test_the_invalid_fixture_names_each_bad_field_and_echoes_no_value(svc: Service) -> None:
    raw = (FIXTURES / "call-completed-invalid.json").read_bytes()
    code, answer = await svc.post_event(raw, msg_id="msg_invalid")
    assert code == 422 and answer["error"]["code"] == "invalid_event"
    fields = {item["field"] for item in answer["error"]["fields"]}
    assert fields == {"data.team_id", "data.call_id", "data.started_at", "data.prospect_id"}
    assert "team acme" not in str(answer) and "yesterday" not in str(answer)


async def test_the_invalid_after_call_fixture_names_each_rule_it_breaks(svc: Service) -> None:
    raw = (FIXTURES / "call-completed-after-call-invalid.json").read_bytes()
    code, answer = await svc.post_event(raw, msg_id="msg_invalid_after_call")
    assert code == 422 and answer["error"]["code"] == "invalid_event"
    fields = {item["field"] for item in answer["error"]["fields"]}
    # reschedule without task_due_at; a finish while the task is kept (complete_task false); both times
    assert fields == {"data.after_call.task_due_at", "data.after_call.sequence", "data.after_call.follow_up"}
    assert await svc.calls() == []
