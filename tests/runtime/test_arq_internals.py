"""runtime/arq_internals.py: one test per arq behaviour it relies on (the numbers of its docstring), so an arq
upgrade that changes one fails here, by name, rather than somewhere downstream."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import arq.constants
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.cron import cron
from arq.jobs import deserialize_job, serialize_job
from arq.worker import Worker as ArqWorker
from redis.exceptions import ConnectionError as RedisConnectionError

from runtime.arq_internals import (
    JOB_STARTED,
    JOB_SUCCEEDED,
    ClaimingWorker,
    QuietCronLines,
    QuietJobLines,
    deserialize,
    job_payload,
    job_ttl_ms,
    serialize,
)
from store import keys
from store.queue import JobWriter
from tools.embedded_redis import EmbeddedRedis

Worker = ClaimingWorker

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


async def settled(pool: ArqRedis, name: str, left: set[str], workers: list[Any], timeout: float = 10.0) -> None:
    """Until the queue holds only `left` and no worker runs a job (arq drops a job from the queue as it ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = {job_id.decode() for job_id in await pool.zrange(name, 0, -1)}
        if queued == left and all(worker.job_counter == 0 for worker in workers):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"queue did not settle: {queued} (expected {left})")


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
        await wait_for_runs(pool, len(due))
        # A second run needs its job still queued: wait until only the two not due to us remain, nothing runs.
        await settled(pool, name, {f"later-{name}", elsewhere}, [worker])
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
        await wait_for_runs(pool, len(jobs), timeout=20)
        await settled(pool, name, set(), workers)
        done = await runs(pool)
    finally:
        for task in tasks:
            task.cancel()
        for w in workers:
            await w.close()
    assert done == {job_id: 1 for job_id in jobs}
    assert all(w.jobs_complete > 0 for w in workers)  # both took part


# 1. The job format ---------------------------------------------------------------------------------------------

def test_1_our_job_payload_is_arqs_serialized_job() -> None:
    ours = job_payload("log_call", ["evt_1", ["t", "c", "r"]], 1_700_000_000_000)
    arqs = serialize_job("log_call", ("evt_1", ["t", "c", "r"]), {}, None, 1_700_000_000_000, serializer=serialize)
    assert deserialize(ours) == deserialize(arqs)
    job = deserialize_job(ours, deserializer=deserialize)
    assert (job.function, list(job.args), job.kwargs, job.job_try) == ("log_call", ["evt_1", ["t", "c", "r"]], {}, None)


async def test_1_our_job_key_lives_as_long_as_enqueue_jobs(queue: Any) -> None:
    pool, name, _ = queue
    theirs, ours = f"theirs-{secrets.token_hex(3)}", f"ours-{secrets.token_hex(3)}"
    await pool.enqueue_job("record", theirs, _job_id=theirs, _queue_name=name)
    assert await JobWriter(pool).enqueue(ours, "record", [ours])
    their_ttl, our_ttl = await pool.pttl(keys.ARQ_JOB + theirs), await pool.pttl(keys.ARQ_JOB + ours)
    assert abs(their_ttl - our_ttl) < 5_000 and our_ttl > 0
    assert job_ttl_ms(5_000, 1_000) == 4_000 + arq.constants.expires_extra_ms
    await pool.delete(keys.ARQ_JOB + theirs, keys.ARQ_JOB + ours)
    await pool.zrem(keys.QUEUE, ours)


# 2. Key prefixes -----------------------------------------------------------------------------------------------

def test_2_store_keys_lists_arqs_own_key_prefixes() -> None:
    assert keys.ARQ_JOB == arq.constants.job_key_prefix
    assert keys.ARQ_RESULT == arq.constants.result_key_prefix
    assert keys.ARQ_RETRY == arq.constants.retry_key_prefix
    assert keys.ARQ_IN_PROGRESS == arq.constants.in_progress_key_prefix


# 3. Worker internals -------------------------------------------------------------------------------------------

def test_3_the_worker_attributes_the_claim_uses_are_arqs(redis_server: EmbeddedRedis) -> None:
    worker = ArqWorker(functions=[record], redis_settings=RedisSettings.from_dsn(redis_server.url), max_jobs=7,
                       handle_signals=False)
    assert isinstance(worker.sem, asyncio.BoundedSemaphore) and worker.sem._value == 7 + 1
    assert worker.job_counter == 0 and worker.tasks == {}
    assert callable(worker._release_sem_dec_counter_on_complete)
    assert list(inspect.signature(ArqWorker.start_jobs).parameters) == ["self", "job_ids"]
    assert list(inspect.signature(ArqWorker.run_job).parameters) == ["self", "job_id", "score"]
    assert worker.in_progress_timeout_s > worker.job_timeout_s


# 4. arq's per-job log lines ------------------------------------------------------------------------------------

class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_4_arq_logs_a_jobs_start_and_success_as_the_filter_expects(queue: Any) -> None:
    pool, name, settings = queue
    job_id = f"logged-{secrets.token_hex(3)}"
    await pool.enqueue_job("record", job_id, _job_id=job_id, _queue_name=name)
    lines, arq_log = _Lines(), logging.getLogger("arq.worker")
    arq_log.addHandler(lines)
    level = arq_log.level
    arq_log.setLevel(logging.INFO)
    worker = worker_for(name, settings, max_jobs=1)
    task = asyncio.create_task(worker.async_run())
    try:
        await wait_for_runs(pool, 1)
        deadline = time.monotonic() + 5
        while not any(r.msg == JOB_SUCCEEDED for r in lines.records) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await worker.close()
        arq_log.removeHandler(lines)
        arq_log.setLevel(level)
    ours = [r for r in lines.records if isinstance(r.args, tuple) and len(r.args) > 1
            and str(r.args[1]) == f"{job_id}:record"]
    assert [r.msg for r in ours] == [JOB_STARTED, JOB_SUCCEEDED]
    assert not any(QuietJobLines("record").filter(r) for r in ours)  # both dropped for that function
    assert all(QuietJobLines("other").filter(r) for r in ours)  # and kept for any other


def line(msg: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    # Exactly as arq.worker builds them (arq/worker.py, run_job).
    return logging.LogRecord("arq.worker", level, "worker.py", 1, msg, args, None)


@pytest.mark.parametrize(("record_", "kept"), [
    (line(JOB_STARTED, 0.01, "evt_1:log_call", "'evt_1'", ""), False),
    (line(JOB_STARTED, 5.3, "evt_1:log_call", "'evt_1'", " delayed=5.30s"), False),
    (line(JOB_STARTED, 0.01, "evt_1:log_call", "'evt_1'", " try=2"), True),
    (line(JOB_STARTED, 9.0, "evt_1:log_call", "'evt_1'", " try=3 delayed=9.00s"), True),
    (line(JOB_SUCCEEDED, 0.31, "evt_1:log_call", "{'status': 'logged'}"), False),
    (line(JOB_STARTED, 0.01, "subs:t:r:1:sync_subscriptions", "'t', 'r'", ""), True),
    (line(JOB_SUCCEEDED, 0.0, "release_ready", "{'released': 0}"), True),
    (line("%6.2fs ↻ %s retrying job in %0.2fs", 0.1, "evt_1:log_call", 2.0), True),
    (line("%6.2fs ! %s failed, %s: %s", 0.1, "evt_1:log_call", "KeyError", "x", level=logging.ERROR), True),
    (line("Starting worker for %s functions: %s", 6, "log_call, ..."), True),
])
def test_4_only_log_calls_own_start_and_success_lines_are_dropped(record_: logging.LogRecord, kept: bool) -> None:
    assert QuietJobLines("log_call").filter(record_) is kept


@pytest.mark.parametrize(("record_", "kept"), [
    (line(JOB_STARTED, 0.0, "release_ready", "", ""), False),
    (line(JOB_SUCCEEDED, 0.0, "release_ready", "{'released': 0}"), False),
    (line("%6.2fs ! %s failed, %s: %s", 0.1, "release_ready", "RedisError", "x", level=logging.ERROR), True),
    (line(JOB_STARTED, 0.01, "evt_1:log_call", "'evt_1'", ""), True),
    (line(JOB_SUCCEEDED, 0.0, "subs:t:r:1:sync_subscriptions", "None"), True),
])
def test_4_cron_jobs_start_and_success_lines_are_dropped(record_: logging.LogRecord, kept: bool) -> None:
    """Periodic jobs that found nothing to do stay quiet (they log their own line when they do something)."""
    assert QuietCronLines().filter(record_) is kept


# 5. How a worker runs and ends ----------------------------------------------------------------------------------

FLAKY = "test:claim:flaky"


async def flaky(ctx: dict[str, Any], job_id: str) -> None:
    """Meets a Redis outage on its first run, then records itself."""
    redis: ArqRedis = ctx["redis"]
    if await redis.incr(FLAKY) == 1:
        raise RedisConnectionError("Redis is loading the dataset in memory")
    await redis.hincrby(RUNS, job_id, 1)


async def sleepy(ctx: dict[str, Any], job_id: str) -> None:
    await asyncio.sleep(30)


def test_5_the_worker_methods_wrapped_are_arqs() -> None:
    assert list(inspect.signature(ArqWorker.main).parameters) == ["self"]
    assert list(inspect.signature(ArqWorker._poll_iteration).parameters) == ["self"]
    assert list(inspect.signature(ArqWorker.close).parameters) == ["self"]
    assert list(inspect.signature(ArqWorker.finish_job).parameters) == [
        "self", "job_id", "finish", "result_data", "result_timeout_s", "keep_result_forever", "incr_score",
        "keep_in_progress"]
    worker = ArqWorker(functions=[record], cron_jobs=[cron(record, name="tick", second=0)], handle_signals=False)
    assert all(dataclasses.is_dataclass(f) and callable(f.coroutine) for f in worker.functions.values())


@asynccontextmanager
async def running(function: Any, name: str, settings: RedisSettings) -> AsyncIterator[Worker]:
    worker = Worker(functions=[function], queue_name=name, redis_settings=settings, poll_delay=0.01,
                    handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        task.cancel()
        await worker.close()


async def test_5_a_job_that_meets_a_redis_outage_is_handed_back_and_runs_again(queue: Any) -> None:
    pool, name, settings = queue
    await pool.delete(FLAKY)
    job_id = f"flaky-{secrets.token_hex(3)}"
    try:
        async with running(flaky, name, settings) as worker:
            await pool.enqueue_job("flaky", job_id, _job_id=job_id, _queue_name=name)
            assert await wait_for_runs(pool, 1) == {job_id: 1}  # arq alone would have failed (and deleted) it
    finally:
        await pool.delete(FLAKY)
    assert worker.jobs_failed == 0 and worker.jobs_retried == 1


async def test_5_a_cancelled_job_stays_queued_with_its_claim_released(queue: Any) -> None:
    """What SIGTERM does to a job still running after the shutdown wait: handed back, runnable at once."""
    pool, name, settings = queue
    job_id = f"sleepy-{secrets.token_hex(3)}"
    async with running(sleepy, name, settings) as worker:
        await pool.enqueue_job("sleepy", job_id, _job_id=job_id, _queue_name=name)
        deadline = time.monotonic() + 10
        while job_id not in worker.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await pool.exists(in_progress_key_prefix + job_id)
        worker.tasks[job_id].cancel()
        await asyncio.gather(worker.tasks[job_id], return_exceptions=True)
    assert await pool.zscore(name, job_id) is not None
    assert not await pool.exists(in_progress_key_prefix + job_id)
    await pool.delete(arq.constants.job_key_prefix + job_id, arq.constants.retry_key_prefix + job_id)
