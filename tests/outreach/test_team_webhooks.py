"""One set of webhook subscriptions per team, held by one rep's token: the first connect creates it, concurrent
connects never make two, a holder's disconnect moves it, the last disconnect removes it, the repair cron brings
older per-rep sets down to one, and what the holder cannot read reaches the dialer through reconciliation."""

from __future__ import annotations

import asyncio
from typing import Any

from outreach.team_webhooks import SubscriptionBusy, TeamSubscriptions
from outreach.webhooks import SetSync
from runtime.services import Services
from store import keys
from tests.support.notify import NotifyReceiver
from tests.support.outreach_hooks import (
    RESOURCES,
    TEAM,
    connect_another,
    connect_with_webhooks,
    holder_of,
    our_subscriptions,
    services_for,
    settle,
    store_of,
    syncs_done,
    worker_idle,
)
from tests.support.service import Service, eventually
from workers.reconcile import reconcile_changes
from workers.subscriptions import repair_subscriptions

REPS = ["ana@acme.com", "ben@acme.com", "cleo@acme.com", "dan@acme.com"]
USER_IDS = {"ana@acme.com": 1, "ben@acme.com": 2, "cleo@acme.com": 3}


async def _ours(svc: Service) -> list[dict[str, Any]]:
    return [h for h in await svc.sandbox.records("webhook")
            if h["attributes"]["url"] == svc.settings.webhook_target_url]


async def _add_dan(svc: Service) -> int:
    """A fourth Outreach user (the demo org has three)."""
    dan = await svc.sandbox.create("user", {"email": "dan@acme.com", "firstName": "Dan", "lastName": "Moss",
                                            "name": "Dan Moss"})
    return int(dan["id"])


async def _stored_sets(svc: Service) -> dict[str, set[str]]:
    sets = {rep: {s.webhook_id for s in (await our_subscriptions(svc, TEAM, rep)).values()} for rep in REPS}
    return {rep: ids for rep, ids in sets.items() if ids}


async def _one_set(svc: Service) -> tuple[str, set[str]]:
    """The team holds exactly one complete set, in the sandbox and here, authorized by its holder."""
    holder = await holder_of(svc)
    assert holder is not None
    sets = await _stored_sets(svc)
    assert list(sets) == [holder], sets
    hooks = await _ours(svc)
    assert {str(h["id"]) for h in hooks} == sets[holder]
    assert sorted(h["attributes"]["resource"] for h in hooks) == sorted(RESOURCES)
    authorizers = {h["relationships"]["authorizer"]["data"]["id"] for h in hooks}
    assert authorizers == {await _user_id(svc, holder)}
    return holder, sets[holder]


async def _user_id(svc: Service, rep_email: str) -> int:
    raw = await svc.redis.hget(keys.mapping(TEAM), rep_email)
    assert raw is not None
    return int(raw)


async def test_four_reps_two_at_once_one_set_one_delivery_one_notification(svc: Service,
                                                                          notify: NotifyReceiver) -> None:
    await _add_dan(svc)
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    results = await asyncio.gather(svc.connect(TEAM, "ben@acme.com"), svc.connect(TEAM, "cleo@acme.com"))
    assert [status for status, _ in results] == [200, 200]
    await connect_another(svc, "dan@acme.com")
    holder, _ = await _one_set(svc)
    assert holder == "ana@acme.com"  # the first to connect

    await svc.sandbox.clear_deliveries()
    await svc.sandbox.update("task", 1128, {"note": "Zebra follow-up"})  # owned by ben (user 2)
    await settle(svc)
    deliveries = [d for d in await svc.sandbox.deliveries() if d["resource_id"] == 1128]
    assert [d["status"] for d in deliveries] == [202]
    notes = notify.about("task", 1128)
    assert len(notes) == 1
    assert notes[0]["data"]["rep_emails"] == ["ben@acme.com"]


async def test_the_first_two_reps_connecting_at_once_make_one_set(svc: Service) -> None:
    results = await asyncio.gather(svc.connect(TEAM, "ana@acme.com"), svc.connect(TEAM, "ben@acme.com"))
    assert [status for status, _ in results] == [200, 200]

    async def settled() -> bool:
        return await holder_of(svc) is not None and len(await _ours(svc)) == len(RESOURCES)

    await eventually(settled)
    await syncs_done(svc)
    await _one_set(svc)


async def test_concurrent_syncs_from_many_processes_elect_one_holder(svc: Service) -> None:
    """Eight independent service instances (own Redis and HTTP connections) sync the team at the same moment,
    each preferring a different rep; some with a lock so short it expires mid-sync, so only the holder's
    compare-and-set keeps them apart."""
    await _add_dan(svc)
    for rep in REPS:
        status, _ = await svc.connect(TEAM, rep)
        assert status == 200
    await syncs_done(svc)
    for rep in REPS:  # forget what the connect jobs did: a team with four reps and no set
        await store_of(svc).remove_rep(TEAM, rep)
    await svc.redis.delete(keys.webhook_team(TEAM))
    for hook in await _ours(svc):
        await svc.sandbox.delete("webhook", int(hook["id"]))

    instances = [Services.open(svc.settings) for _ in range(8)]
    try:
        async def sync(index: int, services: Services) -> str:
            teams = services.outreach.webhooks
            if index % 2:
                teams = TeamSubscriptions(services.redis, services.outreach.client, store_of(svc),
                                          services.stores.holders, services.stores.connections,
                                          services.stores.users, svc.settings.webhook_target_url,
                                          services.ops.telemetry, lock_ms=1)
            for _ in range(40):
                try:
                    await teams.ensure(TEAM, prefer=REPS[index % len(REPS)])
                    return "synced"
                except SubscriptionBusy:
                    await asyncio.sleep(0.05)
            return "busy"

        outcomes = await asyncio.gather(*(sync(i, s) for i, s in enumerate(instances)))
    finally:
        for services in instances:
            await services.close()
    assert "synced" in outcomes
    async with services_for(svc) as ctx:  # whatever a lost race left behind, the next check is clean
        await ctx["services"].outreach.webhooks.ensure(TEAM)
    await _one_set(svc)


async def test_holder_disconnect_moves_the_set_and_the_last_disconnect_removes_it(svc: Service,
                                                                                 notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    await connect_another(svc, "ben@acme.com")
    await connect_another(svc, "cleo@acme.com")
    holder, old_set = await _one_set(svc)
    assert holder == "ana@acme.com"

    # Outreach is slow on /webhooks, so changes land while the set moves (new set created, then old deleted).
    await svc.sandbox.faults(latency_by_prefix={"/api/v2/webhooks": 150})
    disconnect = asyncio.create_task(svc.api("DELETE", f"/v1/teams/{TEAM}/reps/ana@acme.com/connection"))
    changes = 0
    while not disconnect.done() or changes < 3:  # changes before, during and after the move
        changes += 1
        await svc.sandbox.update("prospect", 3459, {"title": f"Zebra {changes}"})
        await asyncio.sleep(0.1)
    status, body = await disconnect
    assert (status, body) == (200, {"status": "not_connected"})
    await svc.sandbox.faults(latency_by_prefix={})
    await settle(svc)

    holder, new_set = await _one_set(svc)
    assert holder in ("ben@acme.com", "cleo@acme.com") and not new_set & old_set
    deliveries = [d for d in await svc.sandbox.deliveries() if d["resource_id"] == 3459]
    per_change: dict[str, int] = {}
    for d in deliveries:
        stamp = d["body"]["data"]["attributes"]["updatedAt"]
        per_change[stamp] = per_change.get(stamp, 0) + 1
    assert len(per_change) == changes and max(per_change.values()) <= 2
    assert any(count == 2 for count in per_change.values())  # the move overlapped some changes: both sets
    assert len(notify.about("prospect", 3459)) == changes  # each change notified once
    counters = await svc.figures(webhook_sets_moved=1)
    assert counters["webhook_sets_moved"] == 1

    # A rep who is not the holder leaves: nothing moves.
    other = "cleo@acme.com" if holder == "ben@acme.com" else "ben@acme.com"
    assert (await svc.api("DELETE", f"/v1/teams/{TEAM}/reps/{other}/connection"))[0] == 200
    assert await _one_set(svc) == (holder, new_set)
    # The last rep leaves: every subscription goes, here and in Outreach.
    assert (await svc.api("DELETE", f"/v1/teams/{TEAM}/reps/{holder}/connection"))[0] == 200
    assert await _ours(svc) == []
    assert [k async for k in svc.redis.scan_iter(match=keys.PREFIX + "whsub*")] == []
    assert await holder_of(svc) is None


async def test_a_holder_needing_reconnect_hands_the_set_over_on_repair(svc: Service) -> None:
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    await connect_another(svc, "ben@acme.com")
    _, old_set = await _one_set(svc)
    async with services_for(svc) as ctx:
        services: Services = ctx["services"]
        await services.stores.connections.mark_needs_reconnect(TEAM, "ana@acme.com")
        result = await repair_subscriptions(ctx)
    assert result["failed"] == 0
    holder, new_set = await _one_set(svc)
    assert holder == "ben@acme.com" and not new_set & old_set  # ana's set deleted with ben's token


async def test_a_holder_whose_tokens_are_refused_hands_the_set_over_at_once(svc: Service) -> None:
    """Revoked in Outreach: the next use of the holder's token finds it refused, and a sync job moves the set
    then, not at the next repair run."""
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    await connect_another(svc, "ben@acme.com")
    _, old_set = await _one_set(svc)
    assert await svc.sandbox.revoke_tokens("ana@acme.com") > 0
    status, _ = await svc.api("GET", f"/v1/teams/{TEAM}/reps/ana@acme.com/call-tasks")
    assert status == 409
    assert (await svc.connection(TEAM, "ana@acme.com"))["status"] == "needs_reconnect"

    async def moved() -> bool:
        return await holder_of(svc) == "ben@acme.com"

    await eventually(moved)
    await worker_idle(svc)
    holder, new_set = await _one_set(svc)
    assert holder == "ben@acme.com" and not new_set & old_set  # ana's set deleted with ben's token


async def test_refused_reps_are_passed_over_and_the_set_moves_to_a_usable_one_at_once(svc: Service) -> None:
    """The holder's and another rep's tokens are refused (both found out only when used): the set moves to the
    rep who can hold it within seconds. It stayed without a holder until the 5-minute repair: the sync tried the
    holder, then the next rep by email, and stopped at the first refusal."""
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    await connect_another(svc, "ben@acme.com")
    for refused in ("ana@acme.com", "ben@acme.com"):
        await svc.sandbox.expire_tokens(refused)
        assert await svc.sandbox.revoke_tokens(refused) > 0
    status, page = await svc.connect(TEAM, "cleo@acme.com")
    assert status == 200, page

    async def moved() -> bool:
        subs = await our_subscriptions(svc, TEAM, "cleo@acme.com")
        return await holder_of(svc) == "cleo@acme.com" and set(subs) == RESOURCES

    await eventually(moved, timeout=10)
    assert (await svc.connection(TEAM, "ana@acme.com"))["status"] == "needs_reconnect"
    await worker_idle(svc)
    await _one_set(svc)  # Cleo's, and only hers: Ana's old set was deleted


async def test_a_holder_without_webhooks_scope_hands_the_set_over(svc: Service) -> None:
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    await connect_another(svc, "ben@acme.com")
    await svc.redis.hset(keys.connection(TEAM, "ana@acme.com"), "scopes", "users.all tasks.all")
    async with services_for(svc) as ctx:
        await repair_subscriptions(ctx)
    holder, _ = await _one_set(svc)
    assert holder == "ben@acme.com"


async def test_a_change_the_holder_cannot_read_is_notified_by_reconciliation(svc: Service,
                                                                            notify: NotifyReceiver) -> None:
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    await connect_another(svc, "ben@acme.com")
    assert await holder_of(svc) == "ana@acme.com"
    await svc.sandbox.own_records_only("ana@acme.com")
    async with services_for(svc) as ctx:
        await reconcile_changes(ctx, grace_seconds=0)  # cursors start now
        await svc.sandbox.update("task", 1128, {"note": "Ben's zebra"})  # owned by ben: ana cannot read it
        await svc.sandbox.update("task", 1122, {"note": "Ana's zebra"})  # ana's own: delivered
        await settle(svc)
        assert [d["resource_id"] for d in await svc.sandbox.deliveries()] == [1122]
        assert notify.about("task", 1128) == []
        result = await reconcile_changes(ctx, grace_seconds=0)
        assert result["queued"] == 1
        await worker_idle(svc)
        assert (await reconcile_changes(ctx, grace_seconds=0))["queued"] == 0
    notes = notify.about("task", 1128)
    assert len(notes) == 1
    assert notes[0]["data"]["rep_emails"] == ["ben@acme.com"] and notes[0]["data"]["event"] == "task.updated"
    assert len(notify.about("task", 1122)) == 1
    assert (await svc.figures(notifications_reconciled=1))["notifications_reconciled"] == 1


async def test_per_rep_sets_of_an_older_version_become_one_on_repair(svc: Service, notify: NotifyReceiver) -> None:
    """Before teams shared a set, every connected rep held five subscriptions."""
    for rep in REPS[:3]:
        status, _ = await svc.connect(TEAM, rep)
        assert status == 200
    await syncs_done(svc)
    for rep in REPS[:3]:  # back to the old layout: a set per rep, no holder
        await store_of(svc).remove_rep(TEAM, rep)
    await svc.redis.delete(keys.webhook_team(TEAM))
    for hook in await _ours(svc):
        await svc.sandbox.delete("webhook", int(hook["id"]))
    async with services_for(svc) as ctx:
        services: Services = ctx["services"]
        legacy = SetSync(services.outreach.client, store_of(svc), svc.settings.webhook_target_url)
        for rep in REPS[:3]:
            await legacy.sync(TEAM, rep, set())
        assert len(await _ours(svc)) == 15 and len(await _stored_sets(svc)) == 3
        await svc.sandbox.update("task", 1122, {"note": "Before"})
        await settle(svc)
        assert len([d for d in await svc.sandbox.deliveries() if d["resource_id"] == 1122]) == 3

        result = await repair_subscriptions(ctx)
    assert result == {"teams": 1, "repaired": 0, "failed": 0}
    holder, _ = await _one_set(svc)
    assert holder == "ana@acme.com"  # the first by email, its set kept as it was
    assert (await svc.figures(webhook_sets_retired=2))["webhook_sets_retired"] == 2
    await svc.sandbox.clear_deliveries()
    await svc.sandbox.update("task", 1122, {"note": "After"})
    await settle(svc)
    assert len([d for d in await svc.sandbox.deliveries() if d["resource_id"] == 1122]) == 1
    assert len(notify.about("task", 1122)) == 2  # one per change


async def test_a_holder_disconnecting_while_the_team_is_busy_leaves_the_move_to_a_job(svc: Service) -> None:
    """The disconnect waits 3 s for the team's lock; past that the rep's set is abandoned (forgotten here,
    deleted in Outreach) and a sync job elects the next holder once the lock is free."""
    await connect_with_webhooks(svc, TEAM, "ana@acme.com")
    await connect_another(svc, "ben@acme.com")
    _, old_set = await _one_set(svc)
    await svc.redis.set(keys.webhook_team_lock(TEAM), "another process", px=60_000)
    status, _ = await svc.api("DELETE", f"/v1/teams/{TEAM}/reps/ana@acme.com/connection")
    assert status == 200
    assert await holder_of(svc) is None and await _stored_sets(svc) == {}
    assert not {str(h["id"]) for h in await _ours(svc)} & old_set
    await svc.redis.delete(keys.webhook_team_lock(TEAM))

    async def moved() -> str | None:
        return await holder_of(svc)

    assert await eventually(moved, timeout=20) == "ben@acme.com"
    await syncs_done(svc)
    await _one_set(svc)
