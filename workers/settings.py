"""The arq worker, described by one settings class (arq's convention): which function runs under each job name
of store/jobs.py, and how; `tuned(settings)` adds the knobs operators set (docs/tuning.md)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from arq import cron, func

from runtime.services import Services
from schemas.settings import Settings, load_settings
from store import jobs, keys
from store.heartbeats import Budget
from store.indexes import ensure_indexes
from store.job_queue import deserialize, serialize
from store.redis import check_durability
from workers.log_call import log_call
from workers.outreach_changes import outreach_change
from workers.parking import release_ready
from workers.reconcile import reconcile_changes
from workers.retention import expire_retained
from workers.subscriptions import repair_subscriptions, sync_subscriptions
from workers.token_keepalive import renew_tokens
from workers.user_sync import sync_users

log = logging.getLogger("workers")


async def startup(ctx: dict[str, Any]) -> None:
    # arq runs this again when Redis was unavailable during start (store/job_queue.py): open services once, on
    # the worker's Redis pool (`ctx["redis"]`, arq's client on the process's one pool).
    if "services" not in ctx:
        settings: Settings = ctx.get("settings") or load_settings()
        services = Services.open(settings, redis=ctx.get("redis"))
        ctx["services"] = services
        services.ops.flusher.as_worker(ctx.get("jobs_in_flight") or (lambda: 0), lambda: _budgets(services))
        services.ops.flusher.start()
    for warning in await check_durability(ctx["services"].redis):
        log.warning("%s", warning)
    opened: Services = ctx["services"]
    # An upgrade: what was kept before the indexes existed (a no-op once any process has done it).
    stores = opened.stores
    await ensure_indexes(stores.users, stores.connections, stores.parking, stores.subscriptions, stores.dead_letters)


def _budgets(services: Services) -> dict[tuple[str, str], Budget]:
    windows = services.outreach.client.budget.windows()
    return {keys.split_member(rep): Budget(remaining, reset_at, limit)
            for rep, (remaining, reset_at, limit) in windows.items()}


async def shutdown(ctx: dict[str, Any]) -> None:
    services: Services | None = ctx.get("services")
    if services is not None:
        await services.close()


class WorkerSettings:
    """Tuned for jobs that mostly wait on Outreach: many concurrent jobs, a short poll (see docs/tuning.md)."""

    # log_call's outcome is in its log line and, when it needs a person, on /ops; arq's stored result (5 minutes)
    # would be read by nobody and, at hundreds of calls a second, hold a great many of them in Redis.
    functions: ClassVar[list[Any]] = [
        func(log_call, name=jobs.LOG_CALL, keep_result=0),
        func(outreach_change, name=jobs.OUTREACH_CHANGE),
        func(sync_subscriptions, name=jobs.SYNC_SUBSCRIPTIONS),
    ]
    # log_call logs the line that says what became of the call (workers/log_call.py): the queue engine logs only
    # its retries.
    own_lines: ClassVar[set[str]] = {jobs.LOG_CALL}
    on_startup = startup
    on_shutdown = shutdown
    queue_name = keys.QUEUE
    job_serializer = serialize
    job_deserializer = deserialize
    # Our jobs decide retries themselves (Retry with backoff, then a dead letter); arq must never drop one.
    max_tries = 1_000_000
    keep_result = 300
    health_check_interval = 30
    allow_abort_jobs = False


def tuned(settings: Settings) -> dict[str, Any]:
    """The worker's knobs (WORKER_*), as arq `Worker` options, and the cron jobs, whose timeouts follow the job
    timeout."""
    timeout = settings.worker_job_timeout
    return {
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay,
        "queue_read_limit": settings.worker_queue_read_limit,
        "job_timeout": timeout,
        # SIGTERM: take no new job, let running ones finish for this long, then hand back the rest (arq cancels
        # them and frees their claims at once, so another worker runs them now, not when the claim expires).
        "job_completion_wait": settings.worker_shutdown_wait,
        # No timeout above job_timeout anywhere: arq keeps a job "in progress" for the LONGEST function timeout
        # + 10 s, and that bounds how fast a job whose worker died is taken up again (promised: within 2 minutes).
        "cron_jobs": [
            cron(release_ready, name=jobs.RELEASE_READY, second={0, 10, 20, 30, 40, 50}, run_at_startup=True,
                 timeout=min(30, timeout)),
            cron(reconcile_changes, name=jobs.RECONCILE_CHANGES, second={15}, timeout=min(55, timeout)),
            cron(repair_subscriptions, name=jobs.REPAIR_SUBSCRIPTIONS, minute=set(range(0, 60, 5)), second={40},
                 timeout=timeout),
            cron(expire_retained, name=jobs.EXPIRE_RETAINED, minute={7}, second={20}, run_at_startup=True,
                 timeout=timeout),
            cron(renew_tokens, name=jobs.RENEW_TOKENS, second={5, 35}, timeout=timeout),
            cron(sync_users, name=jobs.SYNC_USERS, minute=set(range(2, 60, 10)), second={50}, timeout=timeout),
        ],
    }
