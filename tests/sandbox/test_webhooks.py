from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from sandbox.client import SandboxControl

from .conftest import Api

SECRET = "s3cr3t-ü"


class Receiver:
    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.events.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.events]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    await runner.cleanup()


async def subscribe(api: Api, url: str, resource: str = "*", action: str = "*") -> dict[str, Any]:
    body = {
        "data": {
            "type": "webhook",
            "attributes": {"url": url, "resource": resource, "action": action, "secret": SECRET},
        }
    }
    status, created, _ = await api.request("POST", "/webhooks", body)
    assert status == 201, created
    return created["data"]


async def test_webhook_create_shape(ana: Api, receiver: Receiver) -> None:
    hook = await subscribe(ana, receiver.url)
    assert hook["type"] == "webhook" and isinstance(hook["id"], int)
    assert hook["attributes"]["secret"] is None and hook["attributes"]["active"] is True
    assert hook["relationships"]["authorizer"]["data"] == {"type": "user", "id": 1}
    status, patched, _ = await ana.request(
        "PATCH",
        f"/webhooks/{hook['id']}",
        {"data": {"type": "webhook", "id": hook["id"], "attributes": {"active": False}}},
    )
    assert status == 200 and patched["data"]["attributes"]["active"] is False
    assert (await ana.request("DELETE", f"/webhooks/{hook['id']}"))[0] == 204


async def test_signed_deliveries_with_changed_attributes_only(
    ana: Api, control: SandboxControl, receiver: Receiver
) -> None:
    hook = await subscribe(ana, receiver.url, resource="prospect")
    await control.update("prospect", 3456, {"title": "CRO"})
    await control.create("prospect", {"firstName": "New"}, {"owner": 1, "account": 501})
    await control.update("task", 1123, {"note": "ignored: resource is prospect only"})
    log = await control.wait_deliveries()
    assert len(log) == 2 and len(receiver.events) == 2

    # Deliveries go out concurrently, as Outreach's may: no order is promised.
    by_event = {json.loads(raw)["meta"]["eventName"]: (headers, raw) for headers, raw in receiver.events}
    headers, raw = by_event["prospect.updated"]
    assert headers["Content-Type"] == "application/vnd.api+json"
    assert headers["Outreach-Webhook-Id"] == str(hook["id"])
    assert headers["Outreach-Org-Id"] and headers["Outreach-Webhook-Event-Id"]
    expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["Outreach-Webhook-Signature"] == expected

    updated, created = (json.loads(by_event[name][1]) for name in ("prospect.updated", "prospect.created"))
    assert updated["meta"]["eventName"] == "prospect.updated"
    assert set(updated["data"]["attributes"]) == {"title", "updatedAt"} and updated["data"]["id"] == 3456
    assert "+" in updated["meta"]["deliveredAt"][19:] or "-" in updated["meta"]["deliveredAt"][19:]
    assert created["meta"]["eventName"] == "prospect.created"
    assert created["data"]["attributes"]["firstName"] == "New" and "createdAt" in created["data"]["attributes"]
    assert created["data"]["relationships"] == {
        "account": {"type": "account", "id": 501},
        "owner": {"type": "owner", "id": 1},
    }
    assert {e["event_id"] for e in log} == {h["Outreach-Webhook-Event-Id"] for h, _ in receiver.events}


async def test_mark_complete_emits_updated_then_completed(
    ana: Api, control: SandboxControl, receiver: Receiver
) -> None:
    await subscribe(ana, receiver.url, resource="task")
    status, _, _ = await ana.request("POST", "/tasks/1122/actions/markComplete")
    assert status == 200
    await control.wait_deliveries()
    events = {b["meta"]["eventName"]: b["data"] for b in receiver.bodies()}
    assert set(events) == {"task.updated", "task.completed"}
    assert events["task.updated"]["attributes"]["state"] == "complete"
    assert events["task.updated"]["relationships"] == {"completer": {"type": "completer", "id": 1}}
    assert events["task.completed"] == {"type": "task", "id": 1122}


async def test_drops_errors_and_network_retries(ana: Api, control: SandboxControl, receiver: Receiver) -> None:
    hook = await subscribe(ana, receiver.url, resource="account")
    await control.faults(drop_next_deliveries=1)
    await control.update("account", 501, {"name": "Dropped"})
    receiver.status = 500
    await control.update("account", 501, {"name": "Errored"})
    log = await control.wait_deliveries()
    assert [(e["dropped"], e["status"], e["attempt"]) for e in log] == [(True, None, 0), (False, 500, 1)]
    assert len(receiver.events) == 1  # an HTTP error status is never retried

    await control.clear_deliveries()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    status, _, _ = await ana.request(
        "PATCH", f"/webhooks/{hook['id']}", {"data": {"type": "webhook", "id": hook["id"], "attributes": {"url": dead}}}
    )
    assert status == 200
    await control.faults(delivery_retry_delay_s=0.01)
    await control.update("account", 501, {"name": "Unreachable"})
    log = await control.wait_deliveries()
    assert [e["attempt"] for e in log] == [1, 2, 3, 4] and all(e["error"] for e in log)

    await control.disable_webhook(hook["id"], "Failing for 7 days")
    await control.clear_deliveries()
    await control.update("account", 501, {"name": "Quiet"})
    await asyncio.sleep(0.05)
    assert await control.wait_deliveries() == []
    hooks = await control.records("webhook")
    assert hooks[0]["attributes"]["disabledReason"] == "Failing for 7 days"


async def test_a_user_restricted_to_its_own_records_reads_and_is_delivered_only_those(
    ana: Api, control: SandboxControl, receiver: Receiver
) -> None:
    """A webhook only delivers records its authorizer may read (API-NOTES.md)."""
    await subscribe(ana, receiver.url, resource="task")
    assert await control.own_records_only("ana@acme.com") == [1]
    tasks = await ana.get("/tasks", **{"page[size]": "1000"})
    assert {t["relationships"]["owner"]["data"]["id"] for t in tasks["data"]} == {1}
    assert (await ana.request("GET", "/tasks/1128"))[0] == 404  # ben's
    assert (await ana.request("POST", "/tasks/1128/actions/markComplete"))[0] == 404
    assert (await ana.request("GET", "/sequenceStates/7003"))[0] == 404  # its prospect is ben's
    assert (await ana.request("GET", "/users/2"))[0] == 200  # no owner: visible
    await control.update("task", 1128, {"note": "ben's"})
    await control.update("task", 1122, {"note": "ana's"})
    log = await control.wait_deliveries()
    assert [e["resource_id"] for e in log] == [1122]

    await control.own_records_only("ana@acme.com", own_only=False)
    assert (await ana.request("GET", "/tasks/1128"))[0] == 200
    await control.update("task", 1128, {"note": "ben's again"})
    assert sorted(e["resource_id"] for e in await control.wait_deliveries()) == [1122, 1128]
