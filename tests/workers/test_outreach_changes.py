"""Outreach changes → the dialer: recorded deliveries and live sandbox changes, through the real endpoint and
worker, notifications verified with `standardwebhooks`; retries, 410, reconciliation, users, the data rule."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from store import keys
from tests.support.notify import NotifyReceiver
from tests.support.outreach_hooks import (
    FIXTURES,
    connect_another,
    connect_with_webhooks,
    deliver,
    fixture,
    fresh,
    services_for,
    settle,
    worker_idle,
)
from tests.support.service import Service, eventually
from workers.outreach_changes import outreach_change
from workers.reconcile import reconcile_changes

# Zulip style: each recorded payload in tests/fixtures/outreach/ beside what it must become.
EXPECTED = {
    "webhook-task-created.json": {
        "type": "outreach.task.created", "resource": "task", "resource_id": 2, "event": "task.created",
        "changed": ["dueAt", "taskType"],
        "related": {"mailing": 1, "owner": 1, "prospect": 3, "sequence": 2, "sequenceState": 1,
                    "sequenceStep": 14, "taskPriority": 3, "taskTheme": 1},
    },
    "webhook-task-updated-complete.json": {
        "type": "outreach.task.updated", "resource": "task", "resource_id": 2, "event": "task.updated",
        "changed": ["state", "stateChangedAt"], "related": {"completer": 1},
    },
    "webhook-sequenceState-created.json": {
        "type": "outreach.sequenceState.created", "resource": "sequenceState", "resource_id": 1,
        "event": "sequenceState.created", "changed": ["state", "stateChangedAt"],
        "related": {"mailbox": 2, "prospect": 3, "sequence": 2},
    },
}


def test_every_recorded_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.glob("webhook-*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_recorded_delivery_becomes_one_signed_notification(svc: Service, notify: NotifyReceiver,
                                                                 name: str) -> None:
    subs = await connect_with_webhooks(svc)
    expected = EXPECTED[name]
    recorded = fresh(fixture(name))
    status, body = await deliver(svc, recorded, subs[expected["resource"]])  # type: ignore[index]
    assert status == 202, body
    await eventually(lambda: asyncio.sleep(0, notify.received))
    await worker_idle(svc)
    assert len(notify.received) == 1
    payload = notify.received[0].verified()
    assert payload["id"].startswith("ntf_") and notify.received[0].headers["webhook-id"] == payload["id"]
    assert payload["type"] == expected["type"]
    assert payload["created_at"].endswith("Z")
    data = payload["data"]
    assert data["team_id"] == "team_acme"
    for field in ("resource", "resource_id", "event", "changed", "related"):
        assert data[field] == expected[field], field
    assert data["rep_emails"] == ["ana@acme.com"]  # the subscription's rep (owner 1 is ana too)
    assert set(data) == {"team_id", "resource", "resource_id", "event", "rep_emails", "changed", "related"}
    # The same signed payload re-sent with a new event id is a duplicate delivery: no second notification.
    assert (await deliver(svc, recorded, subs[expected["resource"]]))[0] == 200  # type: ignore[index]
    await worker_idle(svc)
    assert len(notify.received) == 1


async def test_live_changes_reach_the_dialer_with_the_reps_concerned(svc: Service, notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc)
    status, _ = await svc.api("PUT", "/v1/teams/team_acme/user-mappings/ben@acme.com", json={"outreach_user_id": 2})
    assert status == 200
    # A prospect owned by Outreach user 2 (mapped to ben): ben is the rep it concerns, not ana, whose token holds
    # the team's subscriptions.
    created = await svc.sandbox.create("prospect", {"firstName": "Zed", "title": "Chief Zebra Officer"},
                                       {"account": 501, "owner": 2})
    await settle(svc)
    notes = notify.about("prospect", int(created["id"]))
    assert len(notes) == 1
    data = notes[0]["data"]
    assert data["event"] == "prospect.created" and "title" in data["changed"]
    assert data["rep_emails"] == ["ben@acme.com"]
    assert data["related"] == {"account": 501, "owner": 2}


async def test_two_reps_one_set_one_delivery_per_change(svc: Service, notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc)
    await connect_another(svc, "ben@acme.com")
    await svc.sandbox.update("prospect", 3459, {"title": "Chief Zebra Officer"})
    await svc.sandbox.update("task", 1122, {"state": "complete"})
    await settle(svc)
    deliveries = [d for d in await svc.sandbox.deliveries() if d["resource_id"] in (3459, 1122)]
    assert len(deliveries) == 2 and all(d["status"] == 202 for d in deliveries)  # the team's one set
    notes = notify.about("prospect", 3459)
    assert len(notes) == 1 and notes[0]["data"]["changed"] == ["title"]
    # The prospect's owner (user 2, ben), whose id is read just in time; ana only holds the subscriptions.
    assert notes[0]["data"]["rep_emails"] == ["ben@acme.com"]
    assert notes[0]["data"]["related"]["owner"] == 2
    assert len(notify.about("task", 1122)) == 1


async def test_task_completion_events(svc: Service, notify: NotifyReceiver) -> None:
    """markComplete makes Outreach send task.updated (with updatedAt) and a bare task.completed: two events,
    each notified once."""
    await connect_with_webhooks(svc)
    rep = await svc.sandbox.connect("ana@acme.com")
    async with svc.http.post(f"{svc.settings.outreach_api_url}/tasks/1122/actions/markComplete",
                             headers={"Authorization": f"Bearer {rep['access_token']}",
                                      "Content-Type": "application/vnd.api+json"}) as response:
        assert response.status == 200, await response.text()
    await settle(svc)
    events = sorted(p["data"]["event"] for p in notify.about("task", 1122))
    assert "task.completed" in events and "task.updated" in events
    assert len(events) == len(set(events))
    completed = next(p for p in notify.about("task", 1122) if p["data"]["event"] == "task.completed")
    assert completed["type"] == "outreach.task.completed"
    # The delivery is bare (type and id): the notification names what completion changes and, read just in time,
    # the task's related ids — as in CONTRACT.md's example.
    assert completed["data"]["changed"] == ["state"]
    assert completed["data"]["related"]["prospect"] == 3456 and completed["data"]["related"]["owner"] == 1
    assert completed["data"]["rep_emails"] == ["ana@acme.com"]
    for item in notify.received:
        item.verified()


async def test_failed_notification_is_retried_then_delivered_with_the_same_id(svc: Service,
                                                                             notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc)
    notify.answers.extend([500, 503])
    await svc.sandbox.update("prospect", 3457, {"title": "Zebra Wrangler"})
    await eventually(lambda: asyncio.sleep(0, notify.about("prospect", 3457)), timeout=20)
    assert notify.attempts == 3
    await worker_idle(svc)
    assert len(notify.about("prospect", 3457)) == 1
    notify.received[0].verified()
    counters = await svc.figures(notifications_retried=2, notifications_sent=1)
    assert counters["notifications_retried"] == 2 and counters["notifications_sent"] == 1


async def test_410_stops_delivery_and_shows_on_ops(svc: Service, notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc)
    notify.answers.append(410)
    await svc.sandbox.update("prospect", 3457, {"title": "Zebra Wrangler"})
    await settle(svc)
    assert notify.attempts == 1
    await svc.sandbox.update("prospect", 3456, {"title": "Zebra Wrangler II"})
    await svc.sandbox.update("task", 1122, {"note": "Zebra note"})
    await settle(svc)
    assert notify.attempts == 1 and notify.received == []
    await svc.figures(notify_url_gone=1, notifications_not_sent_gone=2)  # written by the worker a moment later
    status, summary = await svc.ops_api("GET", "/ops/api/summary")
    assert status == 200
    assert summary["counters"]["notify_url_gone"] == 1
    assert summary["counters"]["notifications_not_sent_gone"] == 2
    async with services_for(svc) as ctx:
        assert await reconcile_changes(ctx, grace_seconds=0) == {"status": "notify_url_gone"}


async def test_reconciliation_catches_a_dropped_delivery_without_duplicating(svc: Service,
                                                                           notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc)
    async with services_for(svc) as ctx:
        first = await reconcile_changes(ctx, grace_seconds=0)  # cursors start now: no history replayed
        assert first["queued"] == 0
        await svc.sandbox.faults(drop_next_deliveries=1)
        await svc.sandbox.update("prospect", 3456, {"title": "Chief Zebra Officer"})  # delivery dropped
        await svc.sandbox.update("prospect", 3457, {"title": "Zebra Wrangler"})  # delivered
        await svc.sandbox.update("task", 1122, {"note": "Zebra note"})  # delivered
        await settle(svc)
        deliveries = await svc.sandbox.deliveries()
        assert sum(1 for d in deliveries if d["dropped"]) == 1
        assert notify.about("prospect", 3456) == []
        assert len(notify.about("prospect", 3457)) == 1 and len(notify.about("task", 1122)) == 1

        # Young changes are left for their webhook: nothing is queued within the grace period.
        assert (await reconcile_changes(ctx))["queued"] == 0
        second = await reconcile_changes(ctx, grace_seconds=0)
        assert second["queued"] == 1
        await worker_idle(svc)
        missed = notify.about("prospect", 3456)
        assert len(missed) == 1
        data = notify.received[-1].verified()["data"]
        assert data["event"] == "prospect.updated" and data["changed"] == [] and data["related"]["owner"] == 1
        assert data["rep_emails"] == ["ana@acme.com"]
        assert len(notify.about("prospect", 3457)) == 1 and len(notify.about("task", 1122)) == 1

        assert (await reconcile_changes(ctx, grace_seconds=0))["queued"] == 0
        await worker_idle(svc)
        assert len(notify.received) == 3
        counters = await svc.figures(notifications_reconciled=1)
        assert counters["notifications_reconciled"] == 1


async def test_reconciled_first_then_the_late_webhook_is_not_a_duplicate(svc: Service,
                                                                        notify: NotifyReceiver) -> None:
    subs = await connect_with_webhooks(svc)
    async with services_for(svc) as ctx:
        await reconcile_changes(ctx, grace_seconds=0)
        await svc.sandbox.faults(drop_next_deliveries=1)
        await svc.sandbox.update("task", 1122, {"note": "Zebra note"})
        await settle(svc)
        assert (await reconcile_changes(ctx, grace_seconds=0))["queued"] == 1
        await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1
    # Outreach's delivery of that same change turns up late (same updatedAt): nothing more is sent.
    task = await svc.sandbox.record("task", 1122)
    late = {"data": {"type": "task", "id": 1122, "attributes": {"note": "x",
                                                                 "updatedAt": task["attributes"]["updatedAt"]}},
            "meta": {"eventName": "task.updated"}}
    assert (await deliver(svc, late, subs["task"]))[0] == 202
    await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1


# Every followed relationship of a seeded record (spec names: openapi.json `<resource>Relationships`).
SAME_CHANGE = {
    ("sequenceState", 7001, "state", "paused"): {"prospect", "account", "sequence", "sequenceStep", "mailbox"},
    ("task", 1122, "note", "Zebra note"): {"prospect", "account", "owner", "sequence", "sequenceState",
                                             "sequenceStep"},
    ("prospect", 3456, "title", "Chief Zebra Officer"): {"account", "owner"},
}


@pytest.mark.parametrize("change", sorted(SAME_CHANGE))
async def test_a_change_names_the_same_related_ids_by_webhook_and_by_reconciliation(
        svc: Service, notify: NotifyReceiver, change: tuple[str, int, str, str]) -> None:
    resource, record_id, attribute, value = change
    subs = await connect_with_webhooks(svc)
    async with services_for(svc) as ctx:
        await reconcile_changes(ctx, grace_seconds=0)  # cursors start now
        await svc.sandbox.faults(drop_next_deliveries=1)  # this change reaches us by reconciliation only
        await svc.sandbox.update(resource, record_id, {attribute: value})
        await settle(svc)
        assert (await reconcile_changes(ctx, grace_seconds=0))["queued"] == 1
        await worker_idle(svc)
    # The same record delivered bare (type and id only, as Outreach sends some events): filled in just in time.
    bare = {"data": {"type": resource, "id": record_id}, "meta": {"eventName": f"{resource}.updated"}}
    assert (await deliver(svc, bare, subs[resource]))[0] == 202
    await worker_idle(svc)
    reconciled, delivered = notify.about(resource, record_id)
    assert reconciled["data"]["related"] == delivered["data"]["related"]
    assert set(reconciled["data"]["related"]) == SAME_CHANGE[change]
    assert reconciled["data"]["rep_emails"] == delivered["data"]["rep_emails"]


async def test_user_updated_refreshes_the_mapping(svc: Service, notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc)
    await svc.sandbox.update("user", 1, {"firstName": "Anabel", "lastName": "Ruiz-Zebra", "name": "Anabel Ruiz-Zebra",
                                         "email": "anabel@acme.com"})
    await settle(svc)

    async def refreshed() -> dict[str, Any]:
        status, body = await svc.api("GET", "/v1/teams/team_acme/user-mappings")
        assert status == 200
        entry: dict[str, Any] = next(m for m in body["mappings"] if m["rep_email"] == "ana@acme.com")
        return entry if entry["name"] == "Anabel Ruiz-Zebra" else {}

    entry = await eventually(refreshed)
    assert entry["email"] == "anabel@acme.com" and entry["outreach_user_id"] == 1
    stored = json.loads(await svc.redis.hget(keys.users("team_acme"), "1") or b"{}")
    assert set(stored) == {"id", "email", "name"}
    assert notify.received == []  # user changes are for the mapping, not the dialer


async def test_notifications_off_when_unconfigured(svc: Service) -> None:
    from runtime.services import Services

    quiet = svc.settings.model_copy(update={"nooks_notify_url": None, "nooks_notify_secret": None})
    services = Services.open(quiet)
    try:
        change = {"event_id": "e1", "event": "task.updated", "resource": "task", "action": "updated",
                  "resource_id": 1, "change_key": "k" * 40, "team_id": "team_acme", "rep_email": "ana@acme.com"}
        assert (await outreach_change({"services": services, "job_try": 1}, change))["status"] == \
            "notifications_off"
        assert await reconcile_changes({"services": services}) == {"status": "notifications_off"}
    finally:
        await services.close()


DISTINCTIVE = ("Chief Zebra Officer", "Zebra note 77 about pricing", "zebra.tamer@globex.example",
               "+15555550177", "Zebra Tamer Incorporated")


async def test_no_outreach_record_data_reaches_redis_or_logs(svc: Service, notify: NotifyReceiver,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    subs = await connect_with_webhooks(svc)
    async with services_for(svc) as ctx:
        await reconcile_changes(ctx, grace_seconds=0)
        await svc.sandbox.update("prospect", 3456, {"title": DISTINCTIVE[0], "emails": [DISTINCTIVE[2]]})
        await svc.sandbox.update("task", 1122, {"note": DISTINCTIVE[1]})
        await svc.sandbox.update("account", 501, {"name": DISTINCTIVE[4]})
        await svc.sandbox.faults(drop_next_deliveries=1)
        await svc.sandbox.update("prospect", 3457, {"title": DISTINCTIVE[0]})  # dropped → reconciliation
        created = await svc.sandbox.create("prospect", {"firstName": "Zed", "lastName": "Zebra",
                                                        "title": DISTINCTIVE[0], "mobilePhones": [DISTINCTIVE[3]]},
                                           {"account": 501, "owner": 1})
        # A version-2 style delivery quoting values in beforeUpdate, straight at the endpoint.
        v2 = {"data": {"type": "prospect", "id": 3456, "attributes": {"title": DISTINCTIVE[0]},
                       "beforeUpdate": {"title": DISTINCTIVE[4]}},
              "meta": {"eventName": "prospect.updated", "payloadVersion": 2}}
        assert (await deliver(svc, v2, subs["prospect"]))[0] == 202
        await settle(svc)
        await reconcile_changes(ctx, grace_seconds=0)
        await worker_idle(svc)
    assert notify.about("prospect", 3457) and notify.about("prospect", int(created["id"]))
    assert notify.about("task", 1122)

    leaks = []
    async for key in svc.redis.scan_iter(count=1000):
        blob = key + (await svc.redis.dump(key) or b"")
        kind = (await svc.redis.type(key)).decode()
        if kind == "string":
            blob += await svc.redis.get(key) or b""
        elif kind == "hash":
            blob += b"".join(k + v for k, v in (await svc.redis.hgetall(key)).items())
        elif kind == "list":
            blob += b"".join(await svc.redis.lrange(key, 0, -1))
        elif kind == "set":
            blob += b"".join(await svc.redis.smembers(key))
        elif kind == "zset":
            blob += b"".join(await svc.redis.zrange(key, 0, -1))
        for value in DISTINCTIVE:
            if value.encode() in blob:
                leaks.append((key, value))
    assert leaks == []
    for value in DISTINCTIVE:
        assert value not in caplog.text
        for item in notify.received:
            assert value.encode() not in item.body
