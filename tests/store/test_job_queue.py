"""store/job_queue.py, the queue engine: what it relies on in arq, one test each (docs/ARCHITECTURE.md lists them
as the checklist for an arq upgrade), and what it adds: the one-call claim, riding out Redis outages, its lines."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random
import secrets
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import arq.constants
import pytest
from arq import Retry
from arq.connections import ArqRedis
from arq.cron import CronJob, cron
from arq.jobs import deserialize_job, serialize_job
from arq.worker import Function
from arq.worker import Worker as ArqWorker
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from store import keys
from store.job_queue import (
    JobWriter,
    QueueWorker,
    create_worker,
    deserialize,
    job_payload,
    job_ttl_ms,
    serialize,
    with_job_lines,
)
from store.redis import connect
from tools.embedded_redis import EmbeddedRedis, free_port, start_redis

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
async def queue(redis_server: EmbeddedRedis) -> AsyncIterator[tuple[ArqRedis, str, Redis]]:
    """arq's client (to enqueue as arq does), a fresh queue name, and the process's pool the worker runs on."""
    redis = connect(redis_server.url)
    pool = ArqRedis(redis.connection_pool, job_serializer=serialize, job_deserializer=deserialize)
    name = f"test:claim:queue:{secrets.token_hex(4)}"
    await pool.delete(RUNS, RUNNING, PEAK)
    yield pool, name, redis
    await pool.delete(RUNS, RUNNING, PEAK, name)
    await redis.aclose()


def worker_for(name: str, redis: Redis, *functions: Any, max_jobs: int = 10, **settings: Any) -> QueueWorker:
    described = type("Settings", (), {"functions": list(functions or [record]), "queue_name": name,
                                      "job_serializer": serialize, "job_deserializer": deserialize, **settings})
    return create_worker(described, redis, max_jobs=max_jobs, poll_delay=0.01, handle_signals=False)


async def enqueue(pool: ArqRedis, name: str, job_id: str, function: str = "record", **options: Any) -> None:
    await pool.enqueue_job(function, job_id, _job_id=job_id, _queue_name=name, **options)


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


@asynccontextmanager
async def running(worker: QueueWorker) -> AsyncIterator[QueueWorker]:
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        task.cancel()
        await worker.close()


class Lines(logging.Handler):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.logger = logging.getLogger(name)
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.seen.set()

    def text(self) -> list[str]:
        return [record.getMessage() for record in self.records]

    def __enter__(self) -> Lines:
        self.logger.addHandler(self)
        self._level = self.logger.level
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *_: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


# The claim (replaces Worker.start_jobs) --------------------------------------------------------------------------

async def test_due_jobs_run_once_but_not_deferred_ones_or_those_running_elsewhere(queue: Any) -> None:
    pool, name, redis = queue
    due = [f"due-{n}-{secrets.token_hex(3)}" for n in range(5)]
    for job_id in due:
        await enqueue(pool, name, job_id)
    await enqueue(pool, name, f"later-{name}", _defer_by=60)
    elsewhere = f"elsewhere-{secrets.token_hex(3)}"
    await enqueue(pool, name, elsewhere)
    await pool.psetex(arq.constants.in_progress_key_prefix + elsewhere, 60_000, b"1")  # another worker holds it

    async with running(worker_for(name, redis, max_jobs=2)) as worker:
        await wait_for_runs(pool, len(due))
        # A second run needs its job still queued: wait until only the two not due to us remain, nothing runs.
        await settled(pool, name, {f"later-{name}", elsewhere}, [worker])
        done = await runs(pool)
    assert done == {job_id: 1 for job_id in due}
    assert int(await pool.get(PEAK)) <= 2  # never more than max_jobs at once, though 5 were due in one poll
    assert await pool.zscore(name, elsewhere) is not None  # still queued for whoever holds it


async def test_a_claimed_job_is_marked_in_progress_for_arqs_timeout(queue: Any) -> None:
    pool, name, redis = queue
    job_id = f"claim-{secrets.token_hex(3)}"
    await enqueue(pool, name, job_id)
    worker = worker_for(name, redis)
    assert await worker._claim(["not-queued", job_id], 5) == [(job_id, int(await pool.zscore(name, job_id)))]
    ttl = await pool.pttl(arq.constants.in_progress_key_prefix + job_id)
    assert 0 < ttl <= worker.in_progress_timeout_s * 1000
    assert await worker._claim([job_id], 5) == []  # a second claim (another worker) gets nothing
    await pool.delete(arq.constants.in_progress_key_prefix + job_id)


async def test_two_workers_share_a_queue_without_running_a_job_twice(queue: Any) -> None:
    pool, name, redis = queue
    jobs = [f"shared-{n}-{secrets.token_hex(3)}" for n in range(60)]
    workers = [worker_for(name, redis) for _ in range(2)]
    tasks = [asyncio.create_task(w.async_run()) for w in workers]
    try:
        for job_id in jobs:
            await enqueue(pool, name, job_id)
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


def test_the_worker_attributes_the_claim_uses_are_arqs(redis_server: EmbeddedRedis) -> None:
    worker = ArqWorker(functions=[record], redis_pool=ArqRedis(connect(redis_server.url).connection_pool),
                       max_jobs=7, handle_signals=False)
    assert isinstance(worker.sem, asyncio.BoundedSemaphore) and worker.sem._value == 7 + 1
    assert worker.job_counter == 0 and worker.tasks == {}
    assert callable(worker._release_sem_dec_counter_on_complete)
    assert list(inspect.signature(ArqWorker.start_jobs).parameters) == ["self", "job_ids"]
    assert list(inspect.signature(ArqWorker.run_job).parameters) == ["self", "job_id", "score"]
    assert worker.in_progress_timeout_s > worker.job_timeout_s


# The job format and keys -----------------------------------------------------------------------------------------

def test_our_job_payload_is_arqs_serialized_job() -> None:
    ours = job_payload("log_call", ["evt_1", ["t", "c", "r"]], 1_700_000_000_000)
    assert deserialize(ours) == {"t": None, "f": "log_call", "a": ["evt_1", ["t", "c", "r"]], "k": {},
                                 "et": 1_700_000_000_000}
    arqs = serialize_job("log_call", ("evt_1", ["t", "c", "r"]), {}, None, 1_700_000_000_000, serializer=serialize)
    assert ours == arqs
    job = deserialize_job(ours, deserializer=deserialize)
    assert (job.function, list(job.args), job.kwargs, job.job_try) == ("log_call", ["evt_1", ["t", "c", "r"]], {}, None)


async def test_our_job_key_lives_as_long_as_enqueue_jobs(queue: Any) -> None:
    pool, name, _ = queue
    theirs, ours = f"theirs-{secrets.token_hex(3)}", f"ours-{secrets.token_hex(3)}"
    await enqueue(pool, name, theirs)
    assert await JobWriter(pool).enqueue(ours, "record", [ours])
    their_ttl, our_ttl = await pool.pttl(keys.ARQ_JOB + theirs), await pool.pttl(keys.ARQ_JOB + ours)
    assert abs(their_ttl - our_ttl) < 5_000 and our_ttl > 0
    assert job_ttl_ms(5_000, 1_000) == 4_000 + arq.constants.expires_extra_ms
    await pool.delete(keys.ARQ_JOB + theirs, keys.ARQ_JOB + ours)
    await pool.zrem(keys.QUEUE, ours)


def test_store_keys_lists_arqs_own_key_prefixes() -> None:
    assert keys.ARQ_JOB == arq.constants.job_key_prefix
    assert keys.ARQ_RESULT == arq.constants.result_key_prefix
    assert keys.ARQ_RETRY == arq.constants.retry_key_prefix
    assert keys.ARQ_IN_PROGRESS == arq.constants.in_progress_key_prefix


# One Redis pool ---------------------------------------------------------------------------------------------------

SEEN: list[Any] = []


async def look(ctx: dict[str, Any], job_id: str) -> None:
    SEEN.append(ctx["redis"])
    await ctx["redis"].hincrby(RUNS, job_id, 1)


async def test_the_worker_and_its_jobs_use_the_pool_it_is_given(queue: Any) -> None:
    pool, name, redis = queue
    SEEN.clear()

    async with running(worker_for(name, redis, look)) as worker:
        await enqueue(pool, name, "looked", "look")
        await wait_for_runs(pool, 1)
    assert worker.redis_settings is None  # arq opens no pool of its own
    assert SEEN and SEEN[0].connection_pool is redis.connection_pool


# The job functions: wrapped copies (Function and CronJob dataclasses) --------------------------------------------

FLAKY = "test:claim:flaky"


async def flaky(ctx: dict[str, Any], job_id: str) -> None:
    """Meets a Redis outage on its first run, then records itself."""
    redis: ArqRedis = ctx["redis"]
    if await redis.incr(FLAKY) == 1:
        raise RedisConnectionError("Redis is loading the dataset in memory")
    await redis.hincrby(RUNS, job_id, 1)


def test_functions_and_cron_jobs_are_dataclasses_with_a_coroutine() -> None:
    worker = ArqWorker(functions=[record], cron_jobs=[cron(record, name="tick", second=0)], handle_signals=False)
    assert all(dataclasses.is_dataclass(f) and callable(f.coroutine) for f in worker.functions.values())
    assert isinstance(worker.functions["record"], Function) and isinstance(worker.functions["tick"], CronJob)


async def test_a_job_that_meets_a_redis_outage_is_handed_back_and_runs_again(queue: Any) -> None:
    """`Retry` leaves the job queued (arq alone would have failed, and deleted, it)."""
    pool, name, redis = queue
    await pool.delete(FLAKY)
    job_id = f"flaky-{secrets.token_hex(3)}"
    try:
        async with running(worker_for(name, redis, flaky)) as worker:
            await enqueue(pool, name, job_id, "flaky")
            assert await wait_for_runs(pool, 1) == {job_id: 1}
    finally:
        await pool.delete(FLAKY)
    assert worker.jobs_failed == 0 and worker.jobs_retried == 1


# Riding out Redis outages (overrides of main, _poll_iteration, run_job, finish_job, close) ------------------------

def test_the_worker_methods_overridden_are_arqs() -> None:
    assert list(inspect.signature(ArqWorker.main).parameters) == ["self"]
    assert list(inspect.signature(ArqWorker._poll_iteration).parameters) == ["self"]
    assert list(inspect.signature(ArqWorker.close).parameters) == ["self"]
    assert list(inspect.signature(ArqWorker.finish_job).parameters) == [
        "self", "job_id", "finish", "result_data", "result_timeout_s", "keep_result_forever", "incr_score",
        "keep_in_progress"]
    overridden = {name for name, value in vars(QueueWorker).items() if callable(value) and name in vars(ArqWorker)}
    assert overridden == {"main", "_poll_iteration", "start_jobs", "run_job", "finish_job", "close"}


async def test_a_worker_started_while_redis_is_down_starts_when_it_is_up() -> None:
    port = free_port()
    redis = connect(f"redis://127.0.0.1:{port}/0")
    name = f"test:claim:queue:{secrets.token_hex(4)}"
    with Lines("workers.queue") as lines:
        worker = worker_for(name, redis)
        task = asyncio.create_task(worker.async_run())
        await asyncio.wait_for(lines.seen.wait(), 5)
        while not any("waiting for it" in line for line in lines.text()):
            lines.seen.clear()
            await asyncio.wait_for(lines.seen.wait(), 5)
        server = start_redis(port, persist=False)
        try:
            pool = ArqRedis(redis.connection_pool, job_serializer=serialize, job_deserializer=deserialize)
            await enqueue(pool, name, "after-outage")
            assert await wait_for_runs(pool, 1) == {"after-outage": 1}
        finally:
            task.cancel()
            await worker.close()
            await redis.connection_pool.disconnect()
            server.stop()
    assert worker.jobs_complete == 1


# SIGTERM: jobs still running are cancelled and handed back (arq's own), then on_stop ------------------------------

async def sleepy(ctx: dict[str, Any], job_id: str) -> None:
    await asyncio.sleep(30)


async def test_a_cancelled_job_stays_queued_with_its_claim_released_and_the_stop_says_so(queue: Any) -> None:
    """What SIGTERM does to a job still running after the shutdown wait: handed back, runnable at once."""
    pool, name, redis = queue
    job_id = f"sleepy-{secrets.token_hex(3)}"
    with Lines("workers.queue") as lines:
        async with running(worker_for(name, redis, sleepy)) as worker:
            await enqueue(pool, name, job_id, "sleepy")
            deadline = time.monotonic() + 10
            while job_id not in worker.tasks and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert await pool.exists(arq.constants.in_progress_key_prefix + job_id)
            worker.handle_sig(signal.SIGTERM)  # what arq does once job_completion_wait is over
            await asyncio.gather(worker.tasks[job_id], return_exceptions=True)
    assert await pool.zscore(name, job_id) is not None
    assert not await pool.exists(arq.constants.in_progress_key_prefix + job_id)
    assert any(line.startswith("shutdown on SIGTERM") and "1 still running cancelled, will be run again" in line
               for line in lines.text())
    await pool.delete(arq.constants.job_key_prefix + job_id, arq.constants.retry_key_prefix + job_id)


# The job lines: the engine's own, arq's INFO lines off -----------------------------------------------------------

async def test_arqs_info_lines_are_off_and_the_engines_say_what_ran(queue: Any) -> None:
    pool, name, redis = queue
    job_id = f"logged-{secrets.token_hex(3)}"
    with Lines("workers.queue") as ours:
        arqs = Lines("arq.worker")
        arqs.logger.addHandler(arqs)  # at the level the engine set
        try:
            async with running(worker_for(name, redis)):
                await enqueue(pool, name, job_id)
                await wait_for_runs(pool, 1)
                while not any("done" in line for line in ours.text()):
                    ours.seen.clear()
                    await asyncio.wait_for(ours.seen.wait(), 5)
        finally:
            arqs.logger.removeHandler(arqs)
    assert logging.getLogger("arq.worker").getEffectiveLevel() == logging.WARNING
    assert not [r for r in arqs.records if r.levelno < logging.WARNING]
    assert [line.split(" in ")[0] for line in ours.text() if job_id in line] == [
        f"job {job_id}:record started try=1", f"job {job_id}:record done"]


async def _ran(coroutine: Any, job_try: int, **lines: bool) -> list[str]:
    with Lines("workers.queue") as seen:
        try:
            await with_job_lines("fn", coroutine, **lines)({"job_id": "j1", "job_try": job_try})
        except Retry:
            pass
    return [line.split(" in ")[0] for line in seen.text()]


async def _returns(ctx: dict[str, Any]) -> dict[str, str]:
    return {"status": "ok"}


async def _retries(ctx: dict[str, Any]) -> None:
    raise Retry(defer=2)


@pytest.mark.parametrize(("coroutine", "job_try", "options", "expected"), [
    (_returns, 1, {"quiet": False, "own_line": False}, ["job j1:fn started try=1", "job j1:fn done"]),
    (_returns, 1, {"quiet": False, "own_line": True}, []),  # its own line says what happened
    (_returns, 2, {"quiet": False, "own_line": True}, ["job j1:fn started try=2"]),
    (_returns, 1, {"quiet": True, "own_line": False}, []),  # a cron job that found nothing to do
    (_retries, 1, {"quiet": True, "own_line": False}, ["job j1:fn retrying"]),
    (_retries, 1, {"quiet": False, "own_line": True}, ["job j1:fn retrying"]),
])
async def test_job_lines(coroutine: Any, job_try: int, options: dict[str, bool], expected: list[str]) -> None:
    assert await _ran(coroutine, job_try, **options) == expected


async def test_a_cancelled_worker_stops_even_when_redis_py_swallows_the_cancellation(
        queue: tuple[ArqRedis, str, Redis]) -> None:
    """redis-py swallows a cancellation that lands inside a command on the process's pool (most of those landing
    mid-command): arq's poll loop then ran on and the worker's task never ended (a hung shutdown)."""
    _, name, redis = queue
    for _ in range(40):
        worker = worker_for(name, redis, poll_delay=0)
        worker.poll_delay_s = 0.0  # poll back to back: the cancellation lands inside a Redis command
        task = asyncio.create_task(worker.main())
        await asyncio.sleep(0.02 + random.random() * 0.01)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3)
        assert done, "the worker's loop ran on after its task was cancelled"
