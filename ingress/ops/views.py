"""What /ops shows, gathered from Redis in a few round trips, in one shape for the page and the JSON API.

Lists come a page at a time from sorted sets (never a whole list to show 50); search and stories come from the
indexes kept as events flow (store/history.py). Ids, reasons, counts and times only.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ingress.webhook_health import team_webhooks
from runtime.services import Services
from schemas.ops import DeadLetter, DeadLetterFilter
from schemas.outreach_webhooks import NOTIFY_RESOURCES
from store import keys
from store.heartbeats import HEARTBEAT_TTL_SECONDS
from store.telemetry import EVENT_TO_OUTREACH_BUCKETS, latency_buckets, percentile

PAGE = 50
CHART_SERIES = ("calls_logged", "retries", "events_dead_lettered")
INGEST_SOURCES = ("nooks", "outreach")
INGEST_OUTCOMES = ("accepted", "duplicate", "refused_signature", "refused_schema", "refused_size", "bad_json",
                   "unavailable")
REDIS_FIELDS = ("used_memory", "used_memory_human", "maxmemory", "maxmemory_policy", "aof_enabled",
                "aof_last_write_status", "rdb_last_bgsave_status", "rdb_changes_since_last_save",
                "rdb_last_save_time", "loading")


async def queue_figures(services: Services) -> dict[str, Any]:
    """Waiting (due now), deferred (retries not yet due), the oldest waiting job's age. arq leaves a running job
    in the queue until it ends, so the oldest waiting one is the oldest due job not marked in progress."""
    redis, now_ms = services.redis, int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.QUEUE)
        pipe.zcount(keys.QUEUE, "-inf", now_ms)
        pipe.zrangebyscore(keys.QUEUE, "-inf", now_ms, start=0, num=PAGE, withscores=True)
        depth, due, oldest = await pipe.execute()
    waiting = await _not_running(services, oldest) if oldest else []
    oldest_age = round(max(now_ms - waiting[0][1], 0) / 1000, 1) if waiting else None
    return {"depth": int(depth), "due": int(due), "deferred": int(depth) - int(due),
            "oldest_waiting_seconds": oldest_age}


async def _not_running(services: Services, jobs: list[tuple[bytes, float]]) -> list[tuple[bytes, float]]:
    async with services.redis.pipeline(transaction=False) as pipe:
        for job_id, _ in jobs:
            pipe.exists(keys.ARQ_IN_PROGRESS + job_id.decode())
        running = await pipe.execute()
    return [job for job, busy in zip(jobs, running, strict=True) if not busy]


async def workers(services: Services) -> list[dict[str, Any]]:
    now = time.time()
    return [{"worker_id": beat.worker_id, "heartbeat_age_seconds": round(now - beat.last_beat, 1),
             "alive": now - beat.last_beat < HEARTBEAT_TTL_SECONDS, "in_flight": beat.in_flight}
            for beat in await services.ops.heartbeats.workers()]


async def redis_figures(services: Services) -> dict[str, Any]:
    info = {**await services.redis.info("memory"), **await services.redis.info("persistence")}
    return {name: info.get(name) for name in REDIS_FIELDS}


async def charts(services: Services) -> dict[str, Any]:
    minutes = await services.ops.telemetry.minutes(60)
    hours = await services.ops.telemetry.hours(24)
    return {
        "per_minute": [{"at": minute * 60, **{s: values.get(s, 0) for s in CHART_SERIES}}
                       for minute, values in minutes],
        "per_hour": [{"at": hour * 3600, **{s: values.get(s, 0) for s in CHART_SERIES}} for hour, values in hours],
        "latency_last_hour": _latency(minutes),
    }


def _latency(minutes: list[tuple[int, dict[str, int]]]) -> dict[str, Any]:
    buckets = latency_buckets(minutes)
    return {"calls": sum(buckets), "p50_seconds_at_most": percentile(EVENT_TO_OUTREACH_BUCKETS, buckets, 0.5),
            "p95_seconds_at_most": percentile(EVENT_TO_OUTREACH_BUCKETS, buckets, 0.95)}


async def overview(services: Services) -> dict[str, Any]:
    """Counts kept as events flow (cardinalities and counters): the same few round trips at any size."""
    parked_events, parked_reps = await services.stores.parking.figures()
    workers_seen = await workers(services)
    queue = await queue_figures(services)
    counters = await services.ops.telemetry.totals()
    return {
        # The first five keep the shape of the earlier summary.
        "queue_depth": queue["depth"],
        "dead_letters": await services.stores.dead_letters.count(),
        "parked": parked_events,
        "flagged": await services.stores.dead_letters.flag_count(),
        "counters": counters,
        # After-call actions refused by Outreach or skipped (workers/pipeline.py), by step.
        "flagged_actions": {name.removeprefix("flagged_"): n for name, n in sorted(counters.items())
                            if name.startswith("flagged_")},
        "queue": {**queue, "in_flight": sum(w["in_flight"] for w in workers_seen if w["alive"])},
        "retries_waiting": await services.ops.retries.count(),
        "parked_reps": parked_reps,
        "paused_reps": await services.stores.pauses.count(),
        "workers": workers_seen,
        "oldest_refresh_token_seconds": await _oldest_refresh_token_age(services),
        "redis": await redis_figures(services),
        **await charts(services),
    }


async def _oldest_refresh_token_age(services: Services) -> float | None:
    """Seconds since the oldest stored refresh token was issued: the keep-alive holds it under half of
    OUTREACH_REFRESH_TOKEN_DAYS (workers/token_keepalive.py); None without connected reps."""
    issued = await services.stores.connections.oldest_refresh_token()
    return round(time.time() - issued, 1) if issued is not None else None


async def dead_letters(services: Services, which: DeadLetterFilter, offset: int) -> tuple[list[DeadLetter], int]:
    """A page of dead letters (newest first) and how many the filter takes."""
    if which.described() == "all":
        return await services.stores.dead_letters.page(offset, PAGE), await services.stores.dead_letters.count()
    return await services.stores.dead_letters.filtered_page(which, offset, PAGE)


async def parked(services: Services, offset: int = 0) -> dict[str, Any]:
    reps, total = await services.stores.parking.page(offset, PAGE)
    groups = await services.stores.parking.groups(reps)
    paused_on_page = await services.stores.pauses.among(reps)
    for group in groups:
        group.paused = (group.team_id, group.rep_email) in paused_on_page
    events = [{"event_id": event_id, "team_id": g.team_id, "rep_email": g.rep_email,
               "reason": next(iter(g.reasons)) if len(g.reasons) == 1 else "mixed"}
              for g in groups for event_id in g.event_ids]
    # Reps are paused by hand, a few at a time: the list is shown whole (up to a page).
    paused_only = [{"team_id": team_id, "rep_email": rep_email, **entry}
                   for (team_id, rep_email), entry in sorted((await services.stores.pauses.paused(PAGE)).items())]
    return {"reps": [g.model_dump(mode="json") for g in groups], "parked": events, "paused": paused_only,
            "total_reps": total, "next_offset": offset + PAGE if offset + PAGE < total else None}


async def connections(services: Services, offset: int = 0, teams_offset: int = 0) -> dict[str, Any]:
    """A page of reps' connections: status, token expiry, rate budget, last call logged, and how far behind their
    reconciliation cursor is; and a page of teams' webhook subscriptions (holder and the health of its one set)."""
    page, total = await services.stores.connections.page(offset, PAGE)
    async with services.redis.pipeline(transaction=False) as pipe:
        for team_id, rep_email in page:
            pipe.hmget(keys.connection(team_id, rep_email), ["status", "expires_at", "updated_at"])
            pipe.hgetall(keys.reconcile_cursor(team_id, rep_email))
            pipe.hlen(keys.parked(team_id, rep_email))
        replies = await pipe.execute()
    budgets = await services.ops.heartbeats.budgets(page)
    last_calls = await services.ops.telemetry.last_calls([keys.rep_member(t, r) for t, r in page])
    paused = await services.stores.pauses.among(page)
    now = time.time()
    rows = []
    for index, (team_id, rep_email) in enumerate(page):
        (status, expires_at, updated_at), cursors, parked_count = replies[3 * index:3 * index + 3]
        budget = budgets.get((team_id, rep_email))
        rows.append({
            "team_id": team_id, "rep_email": rep_email,
            "status": status.decode() if status else "not_connected",
            "token_expires_at": int(expires_at) if expires_at else None,
            "updated_at": int(updated_at) if updated_at else None,
            "rate_remaining": budget.remaining if budget else None,
            "rate_limit": budget.limit if budget else None,
            "rate_reset_at": budget.reset_at if budget and budget.reset_at else None,
            "last_call_at": last_calls.get(keys.rep_member(team_id, rep_email)),
            "parked": int(parked_count),
            "paused": (team_id, rep_email) in paused,
            **_reconcile_lag(cursors, now),
        })
    teams, team_total = await team_webhooks(services, teams_offset, PAGE)
    return {"connections": rows, "webhooks": [team.model_dump(mode="json") for team in teams], "total": total,
            "next_offset": offset + PAGE if offset + PAGE < total else None,
            "teams_total": team_total,
            "teams_next_offset": teams_offset + PAGE if teams_offset + PAGE < team_total else None}


def _reconcile_lag(cursors: dict[bytes, bytes], now: float) -> dict[str, Any]:
    """How far behind now each resource's reconciliation cursor is (None before the first run)."""
    lags = {}
    for resource in NOTIFY_RESOURCES:
        cursor = cursors.get(resource.encode())
        moment = _parse_time(cursor.decode()) if cursor else None
        lags[resource] = round(now - moment, 1) if moment is not None else None
    known = [lag for lag in lags.values() if lag is not None]
    return {"reconcile_lag_seconds": lags, "worst_reconcile_lag_seconds": max(known) if known else None}


def _parse_time(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def ingest(services: Services) -> dict[str, Any]:
    """Per source and outcome: counts per minute over the last hour, and totals since the start."""
    minutes = await services.ops.telemetry.minutes(60)
    totals = await services.ops.telemetry.ingest_totals()
    sources = {}
    for source in INGEST_SOURCES:
        sources[source] = {
            "per_minute": [{"at": minute * 60, **{o: values.get(f"ingest:{source}:{o}", 0) for o in INGEST_OUTCOMES}}
                           for minute, values in minutes],
            "last_hour": {o: sum(values.get(f"ingest:{source}:{o}", 0) for _, values in minutes)
                          for o in INGEST_OUTCOMES},
            "total": {o: totals.get(f"ingest:{source}:{o}", 0) for o in INGEST_OUTCOMES},
        }
    return {"sources": sources}
