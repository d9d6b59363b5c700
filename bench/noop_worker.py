"""The arq baseline: a worker whose only function does nothing, with the service worker's own settings.

`python -m bench.noop_worker` with REDIS_URL and BENCH_ARQ_VARIANT: `tuned` (arq's own Worker with the
default WORKER_* tuning of schemas/settings.py: the baseline), `claim` (the same with the service's Worker class, which
claims jobs in one Lua call per poll: store/job_queue.py) or `stock` (arq's defaults: poll_delay 0.5 s,
max_jobs 10, queue_read_limit = max_jobs).
Jobs are written exactly as store.queue writes ours (JSON, one id argument), on their own queue.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, ClassVar

from arq.connections import RedisSettings
from arq.worker import run_worker
from redis.asyncio import Redis

from schemas.settings import Settings
from store.job_queue import create_worker, deserialize, job_payload, serialize
from store.redis import connect
from workers.settings import WorkerSettings as Service

QUEUE = "bench:noop:queue"


def default(name: str) -> Any:
    """A tuning knob's default (the benchmarks measure the defaults)."""
    return Settings.model_fields[name].default


async def noop(ctx: dict[str, Any], event_id: str) -> None:
    return None


class NoopSettings:
    functions: ClassVar[list[Any]] = [noop]
    queue_name = QUEUE
    job_serializer = serialize
    job_deserializer = deserialize
    max_tries = Service.max_tries
    job_timeout = default("worker_job_timeout")
    keep_result = Service.keep_result
    max_jobs = default("worker_max_jobs")
    poll_delay = default("worker_poll_delay")
    queue_read_limit = default("worker_queue_read_limit")
    health_check_interval = Service.health_check_interval
    allow_abort_jobs = False


class StockSettings:
    functions: ClassVar[list[Any]] = [noop]
    queue_name = QUEUE
    job_serializer = serialize
    job_deserializer = deserialize


async def enqueue(redis: Redis, count: int, tag: str) -> None:
    """`count` no-op jobs, written in pipelined batches (the enqueue side is not what is measured)."""
    now_ms = int(time.time() * 1000)
    for start in range(0, count, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(count, start + 1000)):
                job_id = f"{tag}-{n}"
                pipe.set(f"arq:job:{job_id}", job_payload("noop", [job_id], now_ms), px=86_400_000)
                pipe.zadd(QUEUE, {job_id: now_ms})
            await pipe.execute()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    variant = os.environ.get("BENCH_ARQ_VARIANT", "tuned")
    if variant == "claim":
        create_worker(NoopSettings, connect(os.environ["REDIS_URL"])).run()
        return
    redis_settings = RedisSettings.from_dsn(os.environ["REDIS_URL"])
    settings = StockSettings if variant == "stock" else NoopSettings
    run_worker(settings, redis_settings=redis_settings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
