"""Webhook subscriptions, one set per team: the `sync_subscriptions` job (queued when a rep connects or
reconnects, or when a disconnect could not finish a move) and the `repair_subscriptions` cron, which moves a set
whose holder can no longer hold it, replaces subscriptions Outreach disabled or deleted, and brings teams with
older per-rep sets down to one set (docs/outreach-webhooks.md)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from outreach.errors import NotConnected, OutreachError, OutreachRejected, RateLimited, ReconnectRequired
from outreach.team_webhooks import SubscriptionBusy
from runtime.services import Services
from workers import retry

log = logging.getLogger("workers.subscriptions")

CONCURRENT_TEAMS = 8
# Each sync lists the org's webhooks; many reps connecting at once ran up to WORKER_MAX_JOBS syncs side by side
# and the worker's memory soared (docs/benchmarks.md). At most CONCURRENT_TEAMS per process; a sync that finds
# them all busy comes back a little later instead of holding a job slot.
_SYNC_GATE = asyncio.Semaphore(CONCURRENT_TEAMS)


async def _counted(services: Services, fixed: int) -> None:
    if fixed:
        services.ops.telemetry.count("webhooks_repaired", fixed)


async def sync_subscriptions(ctx: dict[str, Any], team_id: str, rep_email: str) -> dict[str, Any]:
    """Bring the team to one set; `rep_email` (who just connected) holds it if the team has no usable holder."""
    services: Services = ctx["services"]
    attempt = int(ctx.get("job_try") or 1)
    if _SYNC_GATE.locked():
        raise retry.shortly(1, 3)
    try:
        async with _SYNC_GATE:
            report = await services.outreach.webhooks.ensure(team_id, prefer=rep_email or None)
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
    await _counted(services, len(report.sync.repaired))
    return {"status": "synced", **report.as_dict()}


async def repair_subscriptions(ctx: dict[str, Any]) -> dict[str, Any]:
    """Every team with a stored connection: one set, held by a usable rep, every subscription active."""
    services: Services = ctx["services"]
    teams = services.outreach.webhooks
    gate = asyncio.Semaphore(CONCURRENT_TEAMS)
    members: dict[str, list[str]] = defaultdict(list)
    for team_id, rep_email in await services.stores.connections.connected_reps():
        members[team_id].append(rep_email)

    async def repair(team_id: str) -> int | None:
        """How many subscriptions were (re)created; None when the team could not be checked."""
        async with gate:
            try:
                report = await teams.ensure(team_id, members=members[team_id])
            except SubscriptionBusy:
                return 0
            except OutreachError as problem:
                log.warning("webhook repair failed team=%s: %s", team_id, problem)
                await teams.holders.checked(team_id, type(problem).__name__)
                return None
        # A new holder's set is a move, not a repair.
        fixed = len(report.sync.repaired) + (0 if report.moved_from else len(report.sync.created))
        await _counted(services, fixed)
        if fixed or report.retired:
            log.info("webhooks repaired team=%s holder=%s created=%d retired=%d", team_id, report.holder, fixed,
                     len(report.retired))
        return fixed

    results = await asyncio.gather(*(repair(team_id) for team_id in sorted(members)))
    return {"teams": len(members), "repaired": sum(r for r in results if r),
            "failed": sum(1 for r in results if r is None)}
