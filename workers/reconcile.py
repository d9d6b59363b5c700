"""The `reconcile_changes` cron: Outreach drops deliveries it could not make, so every minute, per connected
rep and within their rate budget, read what changed since a stored cursor and queue the changes no webhook
notified (docs/outreach-webhooks.md, "Reconciliation").

A change is `(team, resource, id, updatedAt)`; its hash is the claim both paths take, so a change delivered
by webhook is never notified again here. Changes younger than `GRACE_SECONDS` are left for the next run:
their webhook is probably on its way and carries more (event name, changed attribute names).
Only the cursor (a timestamp) and hashes are stored; records are read with sparse fields and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from outreach import api
from outreach.errors import OutreachError
from runtime.services import Services
from schemas.connection import ConnectionStatus
from schemas.outreach import Resource
from schemas.outreach_resources import FOLLOWED, related_ids
from schemas.outreach_webhooks import NOTIFY_RESOURCES, ReducedChange, change_key
from schemas.times import normalize_timestamp, outreach_time, parse_time
from store import keys
from store.locks import Lock
from store.outreach_changes import OutreachInbox

log = logging.getLogger("workers.reconcile")

GRACE_SECONDS = 30.0
LOW_BUDGET = 1_000  # of 10,000 requests/hour: leave the rest to call logging
CONCURRENT_REPS = 8
LOCK_MS = 55_000
def budget_low(services: Services, team_id: str, rep_email: str) -> bool:
    remaining, reset_at = services.outreach.client.budget.snapshot(keys.rep_member(team_id, rep_email))
    return remaining is not None and remaining < LOW_BUDGET and reset_at > time.time()


async def reconcile_changes(ctx: dict[str, Any], *, grace_seconds: float | None = None) -> dict[str, Any]:
    services: Services = ctx["services"]
    settings = services.settings
    if not settings.notifications_enabled or settings.nooks_notify_url is None:
        return {"status": "notifications_off"}
    if await services.stores.inbox.is_gone(settings.nooks_notify_url):
        return {"status": "notify_url_gone"}
    grace = GRACE_SECONDS if grace_seconds is None else grace_seconds
    gate = asyncio.Semaphore(CONCURRENT_REPS)
    reps = await services.stores.connections.connected_reps()

    async def one(team_id: str, rep_email: str) -> int:
        async with gate:
            return await _reconcile_guarded(services, team_id, rep_email, grace)

    queued = await asyncio.gather(*(one(team_id, rep_email) for team_id, rep_email in reps))
    return {"status": "done", "reps": len(reps), "queued": sum(queued)}


async def _reconcile_guarded(services: Services, team_id: str, rep_email: str, grace: float) -> int:
    if await services.stores.connections.status(team_id, rep_email) is not ConnectionStatus.CONNECTED:
        return 0
    if budget_low(services, team_id, rep_email):
        services.ops.telemetry.count("reconcile_skipped_low_budget")
        return 0
    lock = Lock(services.redis, keys.reconcile_lock(team_id, rep_email), LOCK_MS)
    if not await lock.acquire():
        return 0
    try:
        return await reconcile_rep(services, team_id, rep_email, grace=grace)
    except OutreachError as problem:  # messages are safe to log (status, error id, pointer)
        log.warning("reconcile failed team=%s rep=%s: %s", team_id, rep_email, problem)
        return 0
    finally:
        await lock.release()


async def reconcile_rep(services: Services, team_id: str, rep_email: str, *, grace: float) -> int:
    """Queue the changes since each cursor that nobody claimed; returns how many were queued."""
    inbox = services.stores.inbox
    rep = services.outreach.client.for_rep(team_id, rep_email)
    cursors = await inbox.cursors(team_id, rep_email)
    now = datetime.now(UTC)
    horizon = now - timedelta(seconds=grace)
    queued = 0
    for resource in NOTIFY_RESOURCES:
        cursor = cursors.get(resource)
        if cursor is None or parse_time(cursor) is None:  # first run: start now, never replay history
            await inbox.set_cursor(team_id, rep_email, resource, outreach_time(now))
            continue
        newest, deferred = cursor, None
        fields = ",".join(("createdAt", "updatedAt", *FOLLOWED[resource].related))
        params: dict[str, str | int] = {"filter[updatedAt]": f"{cursor}..inf", "sort": "updatedAt",
                                        f"fields[{resource}]": fields}
        # Resumable: sorted by updatedAt, what a burst leaves unread is read from the saved cursor next run.
        async for record in api.iterate(rep, FOLLOWED[resource].plural, params, partial=True):
            raw = record.attributes.get("updatedAt")
            moment = parse_time(raw)
            if moment is None or not isinstance(raw, str):
                continue
            if moment > horizon:
                if deferred is None or moment < (parse_time(deferred) or moment):
                    deferred = raw
                continue
            if await _queue_unclaimed(inbox, team_id, rep_email, resource, record, raw):
                queued += 1
            if moment > (parse_time(newest) or moment):
                newest = raw
        await inbox.set_cursor(team_id, rep_email, resource, deferred or newest)
    if queued:
        services.ops.telemetry.count("reconcile_queued", queued)
        log.info("reconcile queued team=%s rep=%s changes=%d", team_id, rep_email, queued)
    return queued


async def _queue_unclaimed(inbox: OutreachInbox, team_id: str, rep_email: str, resource: str, record: Resource,
                           updated_at: str) -> bool:
    key = change_key(team_id, resource, record.id, updated_at)
    if await inbox.claimed(key):
        return False
    created = record.attributes.get("createdAt")
    fresh = isinstance(created, str) and normalize_timestamp(created) == normalize_timestamp(updated_at)
    action = "created" if fresh else "updated"
    related = related_ids(resource, record)
    change = ReducedChange(
        source="reconciliation", event_id=f"rc-{key[:24]}", event=f"{resource}.{action}", resource=resource,
        action=action, resource_id=record.id, related=related, changed=[], change_key=key, team_id=team_id,
        rep_email=rep_email, webhook_id=None, received_at=int(time.time() * 1000),
    )
    return await inbox.queue_reconciled(key, change.model_dump(mode="json"))
