"""The arq worker, described by one settings class (arq's convention)."""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar

from arq import cron
from arq.connections import RedisSettings

from runtime.services import Services
from schemas.settings import Settings, load_settings
from store import keys
from store.queue import deserialize, serialize
from workers.log_call import log_call
from workers.parking import release_ready

log = logging.getLogger("workers")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or load_settings()
    ctx["services"] = Services.open(settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    services: Services | None = ctx.get("services")
    if services is not None:
        await services.close()


class WorkerSettings:
    """Tuned for jobs that mostly wait on Outreach: many concurrent jobs, a short poll (see docs/tuning.md)."""

    functions: ClassVar[list[Any]] = [log_call]
    cron_jobs: ClassVar[list[Any]] = [
        cron(release_ready, name="release_ready", second={0, 10, 20, 30, 40, 50}, run_at_startup=True,
             timeout=30),
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = keys.QUEUE
    job_serializer = serialize
    job_deserializer = deserialize
    # Our jobs decide retries themselves (Retry with backoff, then a dead letter); arq must never drop one.
    max_tries = 1_000_000
    # A job whose worker died is taken up again when its in-progress key expires: job_timeout + 10 s.
    job_timeout = 60
    keep_result = 300
    max_jobs = int(_env_number("WORKER_MAX_JOBS", 200))
    poll_delay = _env_number("WORKER_POLL_DELAY", 0.05)
    queue_read_limit = int(_env_number("WORKER_QUEUE_READ_LIMIT", 400))
    health_check_interval = 30
    allow_abort_jobs = False

    @staticmethod
    def redis_settings_for(url: str) -> RedisSettings:
        return RedisSettings.from_dsn(url)
