"""Webhook subscriptions: the `sync_subscriptions` job (queued when a rep connects or reconnects) and the
`repair_subscriptions` cron, which notices subscriptions Outreach disabled or deleted and replaces them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from outreach.errors import NotConnected, OutreachError, OutreachRejected, RateLimited, ReconnectRequired
from outreach.webhooks import SubscriptionBusy, has_scope
from runtime.services import Services
from schemas.connection import ConnectionStatus
from store.queue import count
from workers import retry

log = logging.getLogger("workers.subscriptions")

CONCURRENT_REPS = 8
# Each sync lists every webhook of the org; 500 reps connecting at once ran up to WORKER_MAX_JOBS syncs side by
# side and the worker's memory soared (docs/benchmarks.md). At most CONCURRENT_REPS per process; a sync that
# finds them all busy comes back a little later instead of holding a job slot.
_SYNC_GATE = asyncio.Semaphore(CONCURRENT_REPS)


async def _eligible(services: Services, team_id: str, rep_email: str) -> str | None:
    """Why this rep cannot have subscriptions right now, or None."""
    if await services.connections.status(team_id, rep_email) is not ConnectionStatus.CONNECTED:
        return "not_connected"
    if not has_scope(await services.connections.scopes(team_id, rep_email)):
        return "missing_scope"
    return None


async def sync_subscriptions(ctx: dict[str, Any], team_id: str, rep_email: str) -> dict[str, Any]:
    services: Services = ctx["services"]
    attempt = int(ctx.get("job_try") or 1)
    blocked = await _eligible(services, team_id, rep_email)
    if blocked:
        return {"status": blocked}
    if _SYNC_GATE.locked():
        raise retry.shortly(1, 3)
    try:
        async with _SYNC_GATE:
            report = await services.webhooks.sync(team_id, rep_email)
    except SubscriptionBusy:
        if retry.SUBSCRIPTION_SYNC.exhausted(attempt):
            return {"status": "busy"}
        raise retry.shortly(2, 1) from None
    except RateLimited as limited:
        raise retry.after_rate_limit(limited) from None
    except (ReconnectRequired, NotConnected, OutreachRejected) as refused:
        log.warning("webhook sync refused team=%s rep=%s: %s", team_id, rep_email, refused)
        return {"status": "failed", "reason": str(refused)}
    except OutreachError as unavailable:
        if retry.SUBSCRIPTION_SYNC.exhausted(attempt):
            return {"status": "failed", "reason": str(unavailable)}
        raise retry.SUBSCRIPTION_SYNC.again(attempt) from None
    if report.repaired:
        await count(services.redis, "webhooks_repaired", len(report.repaired))
    return {"status": "synced", **{name: len(items) for name, items in report.as_dict().items()}}


async def repair_subscriptions(ctx: dict[str, Any]) -> dict[str, Any]:
    """Every connected rep: keep exactly one active subscription per resource (one GET /webhooks each)."""
    services: Services = ctx["services"]
    subs = services.webhooks
    gate = asyncio.Semaphore(CONCURRENT_REPS)

    async def repair(team_id: str, rep_email: str) -> int | None:
        """How many subscriptions were (re)created; None when the rep could not be checked."""
        async with gate:
            if await _eligible(services, team_id, rep_email):
                return 0
            try:
                report = await subs.sync(team_id, rep_email)
            except SubscriptionBusy:
                return 0
            except OutreachError as problem:
                log.warning("webhook repair failed team=%s rep=%s: %s", team_id, rep_email, problem)
                return None
        fixed = len(report.repaired) + len(report.created)
        if fixed:
            await count(services.redis, "webhooks_repaired", fixed)
            log.info("webhooks repaired team=%s rep=%s count=%d", team_id, rep_email, fixed)
        return fixed

    results = await asyncio.gather(*(repair(t, r) for t, r in await services.connections.connected_reps()))
    return {"repaired": sum(r for r in results if r), "failed": sum(1 for r in results if r is None)}
