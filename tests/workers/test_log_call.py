"""A call.completed event becomes exactly one Outreach call, end to end over real HTTP and a real Redis."""

from __future__ import annotations

from tests.support.nooks import call_event
from tests.support.service import Service, eventually


async def test_connected_rep_call_is_logged_with_everything(svc: Service) -> None:
    status, page = await svc.connect()
    assert status == 200, page
    event = call_event("call_8f3a1c")
    status, body = await svc.post_event(event)
    assert (status, body) == (202, {"status": "queued", "event_id": event["id"]})

    calls = await eventually(lambda: svc.calls("call_8f3a1c"))
    assert len(calls) == 1
    call = calls[0]
    attributes, relationships = call["attributes"], call["relationships"]
    assert attributes["direction"] == "outbound"
    assert attributes["outcome"] == "Answered"
    assert attributes["to"] == "+14155551234" and attributes["from"] == "+14155550100"
    assert attributes["dialedAt"].startswith("2026-11-29T12:58:00")
    assert attributes["answeredAt"].startswith("2026-11-29T12:58:09")
    assert attributes["completedAt"].startswith("2026-11-29T12:59:44")
    assert attributes["note"] == "Wants pricing for 40 seats"
    assert attributes["recordingUrl"] == "https://rec.nooks.example/c/8f3a1c.mp3"
    assert attributes["externalVendor"] == "Nooks"
    rel = {name: (value.get("data") or {}).get("id") for name, value in relationships.items()}
    assert rel["prospect"] == 3456 and rel["user"] == 1 and rel["callDisposition"] == 1 and rel["task"] == 1122
    assert rel["sequence"] == 41 and rel["sequenceStep"] == 202 and rel["sequenceState"] is not None
    assert await eventually(lambda: _is_complete(svc, 1122))


async def _is_complete(svc: Service, task_id: int) -> bool:
    return await svc.task_state(task_id) == "complete"
