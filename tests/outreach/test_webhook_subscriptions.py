"""Webhook subscriptions in Outreach: created on connect, reused on reconnect, repaired, removed on disconnect.
How a team shares one set between its reps: tests/outreach/test_team_webhooks.py."""

from __future__ import annotations

import pytest

from outreach import api
from outreach.webhooks import team_webhooks
from store import keys
from tests.support.outreach_hooks import (
    REP,
    RESOURCES,
    TEAM,
    connect_with_webhooks,
    deliver,
    our_subscriptions,
    sandbox_webhooks,
    services_for,
    settle,
    worker_idle,
)
from tests.support.service import Service, eventually
from workers.subscriptions import repair_subscriptions


def _ours(svc: Service, hooks: list[dict[str, object]]) -> list[dict[str, object]]:
    return [h for h in hooks if h["attributes"]["url"] == svc.settings.webhook_target_url]  # type: ignore[index]


async def test_connect_subscribes_every_resource_with_our_target(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    hooks = _ours(svc, await sandbox_webhooks(svc))
    assert len(hooks) >= 5
    assert {h["attributes"]["resource"] for h in hooks} == RESOURCES  # type: ignore[index]
    assert all(h["attributes"]["active"] and h["attributes"]["action"] == "*" for h in hooks)  # type: ignore[index]
    assert {str(h["id"]) for h in hooks} == {sub.webhook_id for sub in subs.values()}
    # Fresh random secrets, one per subscription, stored encrypted: no plaintext secret anywhere in Redis.
    secrets = {sub.secret for sub in subs.values()}
    assert len(secrets) == 5 and all(len(s) == 64 for s in secrets)
    async for key in svc.redis.scan_iter():
        dump = await svc.redis.dump(key)
        if dump is None:
            continue  # expired between SCAN and DUMP (a lock, an in-progress marker)
        for secret in secrets:
            assert secret.encode() not in dump, key
    # The sandbox, acting as Outreach, delivers a real change to us, signed with that secret: accepted.
    await svc.sandbox.update("prospect", 3457, {"title": "Head of Zebras"})
    deliveries = await svc.sandbox.wait_deliveries()
    assert [d["status"] for d in deliveries if d["resource_type"] == "prospect"] == [202]


async def test_reconnect_reuses_and_never_duplicates(svc: Service) -> None:
    first = await connect_with_webhooks(svc)
    before = {str(h["id"]) for h in _ours(svc, await sandbox_webhooks(svc))}
    for _ in range(2):
        status, _page = await svc.connect()
        assert status == 200
    await worker_idle(svc)
    after = _ours(svc, await sandbox_webhooks(svc))
    assert {str(h["id"]) for h in after} == before and len(after) == 5
    assert {k: s.webhook_id for k, s in (await our_subscriptions(svc)).items()} == \
        {k: s.webhook_id for k, s in first.items()}


async def test_a_sync_keeps_only_its_teams_webhooks(svc: Service) -> None:
    """The org lists every webhook; a sync holds on to the team's only (memory with 500 syncs at once)."""
    ana = await connect_with_webhooks(svc)
    orphan = await svc.sandbox.create("webhook", {"url": svc.settings.webhook_target_url, "resource": "task",
                                                  "action": "*", "secret": "lost"},
                                      {"authorizer": 1, "creator": 1, "updater": 1})
    elsewhere = await svc.sandbox.create("webhook", {"url": svc.settings.webhook_target_url, "resource": "task",
                                                     "action": "*", "secret": "other team"},
                                         {"authorizer": 3, "creator": 3, "updater": 3})
    assert len(_ours(svc, await sandbox_webhooks(svc))) == 7
    async with services_for(svc) as ctx:
        services = ctx["services"]
        rep = services.outreach.client.for_rep(TEAM, REP)
        ids = {sub.webhook_id for sub in ana.values()}
        kept = await team_webhooks(rep, svc.settings.webhook_target_url, ids, {1})
        assert {str(h.id) for h in kept} == ids | {str(orphan["id"])}  # user 3 is no rep of this team
        unmapped = await team_webhooks(rep, svc.settings.webhook_target_url, ids, set())
        assert {str(h.id) for h in unmapped} == ids
    assert str(elsewhere["id"]) in {str(h["id"]) for h in await sandbox_webhooks(svc)}


async def test_disconnect_deletes_them_in_outreach_and_here(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    status, body = await svc.api("DELETE", f"/v1/teams/{TEAM}/reps/{REP}/connection")
    assert (status, body) == (200, {"status": "not_connected"})
    assert _ours(svc, await sandbox_webhooks(svc)) == []
    assert await our_subscriptions(svc) == {}
    assert [k async for k in svc.redis.scan_iter(match=keys.PREFIX + "whsub*")] == []
    # A delivery still in flight for a removed subscription is refused.
    task = subs["task"]
    status, _ = await deliver(svc, {"data": {"type": "task", "id": 1}, "meta": {"eventName": "task.updated"}},
                              task)
    assert status == 401


async def test_disabled_subscription_is_repaired(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    disabled = subs["prospect"]
    await svc.sandbox.disable_webhook(int(disabled.webhook_id), reason="Failing for 7 days")
    async with services_for(svc) as ctx:
        result = await repair_subscriptions(ctx)
    assert result["repaired"] == 1
    now = await our_subscriptions(svc)
    assert now["prospect"].webhook_id != disabled.webhook_id
    assert now["prospect"].secret != disabled.secret
    assert {k: s.webhook_id for k, s in now.items() if k != "prospect"} == \
        {k: s.webhook_id for k, s in subs.items() if k != "prospect"}
    hooks = _ours(svc, await sandbox_webhooks(svc))
    assert len(hooks) == 5 and all(h["attributes"]["active"] for h in hooks)  # type: ignore[index]
    assert disabled.webhook_id not in {str(h["id"]) for h in hooks}
    await svc.sandbox.update("prospect", 3457, {"title": "Head of Zebras"})
    await settle(svc)
    assert [d["status"] for d in await svc.sandbox.deliveries() if d["resource_type"] == "prospect"] == [202]


async def test_subscription_deleted_in_outreach_is_recreated_on_reconnect(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    await svc.sandbox.delete("webhook", int(subs["call"].webhook_id))
    status, _ = await svc.connect()
    assert status == 200

    async def replaced() -> bool:
        now = await our_subscriptions(svc)
        return "call" in now and now["call"].webhook_id != subs["call"].webhook_id

    await eventually(replaced)
    await worker_idle(svc)
    assert len(_ours(svc, await sandbox_webhooks(svc))) == 5


async def test_orphan_with_our_url_is_removed(svc: Service) -> None:
    """A subscription we created but never recorded (crash, lost Redis) cannot be verified: it is deleted."""
    await connect_with_webhooks(svc)
    orphan = await svc.sandbox.create("webhook", {"url": svc.settings.webhook_target_url, "resource": "task",
                                                  "action": "*", "secret": "lost"},
                                      {"authorizer": 1, "creator": 1, "updater": 1})
    async with services_for(svc) as ctx:
        await repair_subscriptions(ctx)
    ids = {str(h["id"]) for h in _ours(svc, await sandbox_webhooks(svc))}
    assert str(orphan["id"]) not in ids and len(ids) == 5


async def test_no_subscriptions_without_connection(svc: Service) -> None:
    async with services_for(svc) as ctx:
        assert await repair_subscriptions(ctx) == {"teams": 0, "repaired": 0, "failed": 0}
    assert await sandbox_webhooks(svc) == []


async def test_a_sync_keeps_its_subscriptions_when_the_orgs_list_is_longer_than_a_read_may_take(
        svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big org holds thousands of webhooks. Reading the whole list (it stopped quietly at 50 pages) made stored
    subscriptions beyond the cut look gone, and every repair run created them again, leaving the old ones in
    Outreach. Stored subscriptions are read by id; only the orphan scan may stop at the page limit."""
    for _ in range(60):  # another integration's webhooks, listed before ours
        await svc.sandbox.create("webhook", {"url": "https://elsewhere.example/hook", "resource": "task",
                                             "action": "*", "secret": "theirs"}, {"authorizer": 2, "creator": 2})
    subs = await connect_with_webhooks(svc)
    await worker_idle(svc)
    await svc.sandbox.clear_requests()
    monkeypatch.setattr(api, "PAGE_SIZE", 1)  # 65 webhooks, one a page: more pages than a list read may take
    async with services_for(svc) as ctx:
        result = await repair_subscriptions(ctx)
    assert (result["repaired"], result["failed"]) == (0, 0)
    assert await our_subscriptions(svc) == subs
    reads = [r for r in await svc.sandbox.requests(path_prefix="/api/v2/webhooks/") if r["method"] == "GET"]
    assert sorted(r["path"].rsplit("/", 1)[1] for r in reads) == sorted(s.webhook_id for s in subs.values())
    assert len(_ours(svc, await sandbox_webhooks(svc))) == 5  # nothing created twice
