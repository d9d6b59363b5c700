"""The arq worker, described by one settings class (arq's convention): which function runs under each job name
of store/jobs.py, and how."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar

from arq import cron, func
from arq.connections import RedisSettings

from runtime.arq_internals import deserialize, serialize
from runtime.services import Services
from schemas.settings import Settings, load_settings
from store import jobs, keys
from store.heartbeats import Budget
from store.indexes import ensure_indexes
from store.redis import check_durability
from workers.log_call import log_call
from workers.outreach_changes import outreach_change
from workers.parking import release_ready
from workers.reconcile import reconcile_changes
from workers.retention import expire_retained
from workers.subscriptions import repair_subscriptions, sync_subscriptions
from workers.token_keepalive import renew_tokens
from workers.tuning import JOB_TIMEOUT, MAX_JOBS, POLL_DELAY, QUEUE_READ_LIMIT, SHUTDOWN_WAIT
from workers.user_sync import sync_users

log = logging.getLogger("workers")


async def startup(ctx: dict[str, Any]) -> None:
    # arq runs this again when Redis was unavailable during start (runtime/arq_internals.py): open services once.
    if "services" not in ctx:
        settings: Settings = ctx.get("settings") or load_settings()
        services = Services.open(settings)
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
    # No timeout above job_timeout anywhere: arq keeps a job "in progress" for the LONGEST function timeout
    # + 10 s, and that bounds how fast a job whose worker died is taken up again (CONTRACT: ≤ 2 minutes).
    cron_jobs: ClassVar[list[Any]] = [
        cron(release_ready, name=jobs.RELEASE_READY, second={0, 10, 20, 30, 40, 50}, run_at_startup=True,
             timeout=min(30, JOB_TIMEOUT)),
        cron(reconcile_changes, name=jobs.RECONCILE_CHANGES, second={15}, timeout=min(55, JOB_TIMEOUT)),
        cron(repair_subscriptions, name=jobs.REPAIR_SUBSCRIPTIONS, minute=set(range(0, 60, 5)), second={40},
             timeout=JOB_TIMEOUT),
        cron(expire_retained, name=jobs.EXPIRE_RETAINED, minute={7}, second={20}, run_at_startup=True,
             timeout=JOB_TIMEOUT),
        cron(renew_tokens, name=jobs.RENEW_TOKENS, second={5, 35}, timeout=JOB_TIMEOUT),
        cron(sync_users, name=jobs.SYNC_USERS, minute=set(range(2, 60, 10)), second={50}, timeout=JOB_TIMEOUT),
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = keys.QUEUE
    job_serializer = serialize
    job_deserializer = deserialize
    # Our jobs decide retries themselves (Retry with backoff, then a dead letter); arq must never drop one.
    max_tries = 1_000_000
    job_timeout = JOB_TIMEOUT
    keep_result = 300
    max_jobs = MAX_JOBS
    poll_delay = POLL_DELAY
    queue_read_limit = QUEUE_READ_LIMIT
    health_check_interval = 30
    allow_abort_jobs = False
    # SIGTERM: take no new job, let running ones finish for this long, then hand back the rest (arq cancels them
    # and frees their claims at once, so another worker runs them now, not when the claim expires).
    job_completion_wait = SHUTDOWN_WAIT

    @staticmethod
    def redis_settings_for(settings: Settings) -> RedisSettings:
        from_url = RedisSettings.from_dsn(settings.redis_url)
        if settings.redis_sentinels:
            # REDIS_URL's username, password, TLS and database still apply to the master (CONTRACT).
            return dataclasses.replace(from_url, host=settings.redis_sentinels, sentinel=True,
                                       sentinel_master=settings.redis_sentinel_master or "")
        return from_url
