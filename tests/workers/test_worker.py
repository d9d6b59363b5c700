"""Our arq Worker claims jobs with one Lua call per poll: the same guarantees as arq's WATCH/MULTI claim."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix

from runtime.embedded_redis import EmbeddedRedis
from workers.worker import Worker

RUNS = "test:claim:runs"  # job id -> times its function ran
RUNNING = "test:claim:running"
PEAK = "test:claim:peak"


async def record(ctx: dict[str, Any], job_id: str) -> None:
    redis: ArqRedis = ctx["redis"]
    running = await redis.incr(RUNNING)
    await redis.eval("if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then "
                     "redis.call('SET', KEYS[1], ARGV[1]) end", 1, PEAK, running)
    await asyncio.sleep(0.05)
    await redis.hincrby(RUNS, job_id, 1)
    await redis.decr(RUNNING)


@pytest.fixture
async def queue(redis_server: EmbeddedRedis) -> AsyncIterator[tuple[ArqRedis, str, RedisSettings]]:
    settings = RedisSettings.from_dsn(redis_server.url)
    pool = await create_pool(settings)
    name = f"test:claim:queue:{secrets.token_hex(4)}"
    await pool.delete(RUNS, RUNNING, PEAK)
    yield pool, name, settings
    await pool.delete(RUNS, RUNNING, PEAK, name)
    await pool.aclose()


def worker_for(name: str, settings: RedisSettings, max_jobs: int) -> Worker:
    return Worker(functions=[record], queue_name=name, redis_settings=settings, max_jobs=max_jobs,
                  poll_delay=0.01, handle_signals=False)


async def runs(pool: ArqRedis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in (await pool.hgetall(RUNS)).items()}


async def wait_for_runs(pool: ArqRedis, count: int, timeout: float = 10.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = await runs(pool)
        if sum(done.values()) >= count:
            return done
        await asyncio.sleep(0.02)
    return await runs(pool)


async def test_due_jobs_run_once_but_not_deferred_ones_or_those_running_elsewhere(queue: Any) -> None:
    pool, name, settings = queue
    due = [f"due-{n}-{secrets.token_hex(3)}" for n in range(5)]
    for job_id in due:
        await pool.enqueue_job("record", job_id, _job_id=job_id, _queue_name=name)
    await pool.enqueue_job("record", "later", _job_id=f"later-{name}", _queue_name=name, _defer_by=60)
    elsewhere = f"elsewhere-{secrets.token_hex(3)}"
    await pool.enqueue_job("record", elsewhere, _job_id=elsewhere, _queue_name=name)
    await pool.psetex(in_progress_key_prefix + elsewhere, 60_000, b"1")  # another worker holds it

    worker = worker_for(name, settings, max_jobs=2)
    task = asyncio.create_task(worker.async_run())
    try:
        done = await wait_for_runs(pool, len(due))
        await asyncio.sleep(0.2)  # room for a wrong extra run to show up
        done = await runs(pool)
    finally:
        task.cancel()
        await worker.close()
    assert done == {job_id: 1 for job_id in due}
    assert int(await pool.get(PEAK)) <= 2  # never more than max_jobs at once, though 5 were due in one poll
    assert await pool.zscore(name, elsewhere) is not None  # still queued for whoever holds it


async def test_a_claimed_job_is_marked_in_progress_for_arqs_timeout(queue: Any) -> None:
    pool, name, settings = queue
    job_id = f"claim-{secrets.token_hex(3)}"
    await pool.enqueue_job("record", job_id, _job_id=job_id, _queue_name=name)
    worker = Worker(functions=[record], queue_name=name, redis_pool=pool, handle_signals=False)
    assert await worker._claim(["not-queued", job_id], 5) == [(job_id, int(await pool.zscore(name, job_id)))]
    ttl = await pool.pttl(in_progress_key_prefix + job_id)
    assert 0 < ttl <= worker.in_progress_timeout_s * 1000
    assert await worker._claim([job_id], 5) == []  # a second claim (another worker) gets nothing
    await pool.delete(in_progress_key_prefix + job_id)


async def test_two_workers_share_a_queue_without_running_a_job_twice(queue: Any) -> None:
    pool, name, settings = queue
    jobs = [f"shared-{n}-{secrets.token_hex(3)}" for n in range(60)]
    workers = [worker_for(name, settings, max_jobs=10) for _ in range(2)]
    tasks = [asyncio.create_task(w.async_run()) for w in workers]
    try:
        for job_id in jobs:
            await pool.enqueue_job("record", job_id, _job_id=job_id, _queue_name=name)
        done = await wait_for_runs(pool, len(jobs), timeout=20)
        await asyncio.sleep(0.2)
        done = await runs(pool)
    finally:
        for task in tasks:
            task.cancel()
        for w in workers:
            await w.close()
    assert done == {job_id: 1 for job_id in jobs}
    assert all(w.jobs_complete > 0 for w in workers)  # both took part
