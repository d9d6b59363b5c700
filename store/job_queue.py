"""The job queue: arq's jobs in Redis, and the only module that knows arq beyond its API for describing jobs (the
settings class, `func`, `cron`, `Retry`).

arq is pinned in pyproject.toml. What this module relies on in arq, and each override of its `Worker`, is listed
in docs/ARCHITECTURE.md ("The queue engine") with the test in tests/store/test_job_queue.py that pins it, so an arq
upgrade is a checklist. What it does:
- writes jobs in arq's format (`serialize_job`, in JSON: never pickle) from one Lua call (`JobWriter`) instead of
  `enqueue_job`'s WATCH/EXISTS/MULTI round trips, deduping and storing the event in the same call;
- claims due jobs in one Lua call per poll (`QueueWorker.start_jobs`) instead of four round trips per job;
- rides out Redis being unavailable (at start, in the poll loop, while a job starts or ends, while stopping) and
  hands a job that met it back instead of failing it (arq deletes failed jobs); `SIGTERM` hands back jobs still
  running after `job_completion_wait` (arq's own behaviour);
- runs on the process's one Redis pool (`create_worker`), and logs job lines through the service's logger:
  arq's own INFO lines are off (its warnings and failures stay).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterator
from dataclasses import dataclass
from signal import Signals
from typing import Any, TypeVar

import orjson
from arq import Retry
from arq.connections import ArqRedis
from arq.constants import expires_extra_ms, in_progress_key_prefix
from arq.cron import CronJob
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from arq.worker import Function, Worker, func
from arq.worker import get_kwargs as worker_kwargs
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from store import jobs, keys
from store.redis import UNAVAILABLE, outage_waits

log = logging.getLogger("workers.queue")
T = TypeVar("T")
JobFunction = Callable[..., Coroutine[Any, Any, Any]]

# The job format -----------------------------------------------------------------------------------------------


def serialize(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


def deserialize(raw: bytes) -> dict[str, Any]:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("job is not a JSON object")
    return value


def job_payload(function: str, args: list[Any], enqueue_ms: int) -> bytes:
    """A first try's job (`t` is None), as `enqueue_job` writes it."""
    return serialize_job(function, tuple(args), {}, None, enqueue_ms, serializer=serialize)


def job_ttl_ms(due_ms: int, enqueue_ms: int) -> int:
    """How long the job key lives: what `enqueue_job` gives it when no `_expires` is passed."""
    return due_ms - enqueue_ms + expires_extra_ms


def ttl_for(function: str, now_ms: int) -> int:
    """A call's job is kept until a worker runs it (0): arq drops a job whose key expired, and an acknowledged
    event must never vanish because the workers were down for a day. Other jobs (notifications, syncs) are
    redone by reconciliation and repair runs, so they keep the TTL `enqueue_job` would give them."""
    return 0 if function == jobs.LOG_CALL else job_ttl_ms(now_ms, now_ms)


# Writing jobs -------------------------------------------------------------------------------------------------

# Dedupe and queue in one round trip. KEYS: seen, job, result, retry, queue, body, also seen.
# ARGV: job payload, score, job id, seen ttl, body, job ttl (ms; 0 = kept until run). An empty job id only records
# the dedupe key (accepted, nothing to do); an empty body stores none (the job carries what it needs). The second
# dedupe key (the same key as the first when there is none) is checked and recorded with the first.
_ACCEPT = """
if KEYS[7] ~= KEYS[1] and redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) == false then return 0 end
if KEYS[7] ~= KEYS[1] then redis.call('SET', KEYS[7], '1', 'EX', ARGV[4]) end
if ARGV[3] == '' then return 1 end
if ARGV[5] ~= '' then redis.call('SET', KEYS[6], ARGV[5]) end
redis.call('DEL', KEYS[3], KEYS[4])
if ARGV[6] == '0' then redis.call('SET', KEYS[2], ARGV[1]) else redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[6]) end
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
return 1
"""

# Queue a job. KEYS: job, queue, guard. ARGV: payload, score, job id, mode: 'guard' = only while the guard key
# exists (e.g. the stored event), 'new' = only when no job with this id is waiting; job ttl (ms; 0 = kept until run).
_ENQUEUE = """
if ARGV[4] == 'guard' and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if ARGV[4] == 'new' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[5] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Replicas:
    """How many replicas must hold an event before it is acknowledged (REDIS_WAIT_REPLICAS), and how long to wait."""

    count: int
    timeout_ms: int


class NotReplicated(RedisError):
    """Stored on the master, but fewer replicas than required confirmed it in time: answer as if not stored."""

    def __init__(self, acknowledged: int, required: int) -> None:
        super().__init__(f"{acknowledged} of {required} replicas confirmed the write in time")


class JobWriter:
    """Writes jobs straight into arq's queue, with Lua instead of `enqueue_job`'s several round trips."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._accept = redis.register_script(_ACCEPT)
        self._enqueue = redis.register_script(_ENQUEUE)

    async def accept_once(self, seen_key: str, seen_ttl: int, function: str, args: list[Any], job_id: str,
                          *, body_key: str = "", body: bytes = b"", also_seen: str = "",
                          replicas: Replicas | None = None) -> bool:
        """Record `seen_key` (and `also_seen`) and, unless `job_id` is empty, queue the job (and store `body`);
        False when either was already recorded, in which case nothing is written. With `replicas`, return only
        once that many replicas have the write (else NotReplicated)."""
        now_ms = int(time.time() * 1000)
        payload = job_payload(function, args, now_ms) if job_id else b""
        script_keys = [seen_key, keys.ARQ_JOB + job_id, keys.ARQ_RESULT + job_id, keys.ARQ_RETRY + job_id,
                       keys.QUEUE, body_key or seen_key, also_seen or seen_key]
        script_args: list[bytes | str | int] = [payload, now_ms, job_id, seen_ttl, body, ttl_for(function, now_ms)]
        if replicas is None or replicas.count == 0:
            return bool(await self._accept(keys=script_keys, args=script_args))
        # WAIT counts the writes of its own connection: one pipeline keeps both on one.
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._accept(keys=script_keys, args=script_args, client=pipe)
            pipe.execute_command("WAIT", replicas.count, replicas.timeout_ms)
            result, acknowledged = await pipe.execute()
        if int(acknowledged) < replicas.count:
            raise NotReplicated(int(acknowledged), replicas.count)
        return bool(result)

    async def enqueue(self, job_id: str, function: str, args: list[Any], *, while_exists: str = "",
                      only_new: bool = False) -> bool:
        """Queue a job; with `while_exists`, only if that key exists; with `only_new`, only if no job with this
        id is waiting. True when queued."""
        now_ms = int(time.time() * 1000)
        mode = "guard" if while_exists else "new" if only_new else ""
        result = await self._enqueue(keys=[keys.ARQ_JOB + job_id, keys.QUEUE, while_exists or keys.QUEUE],
                                     args=[job_payload(function, args, now_ms), now_ms, job_id, mode,
                                           ttl_for(function, now_ms)])
        return bool(result)


# Running jobs -------------------------------------------------------------------------------------------------

# How soon a job that met a Redis outage runs again once Redis is back.
HANDED_BACK_DEFER_SECONDS = 1.0

# arq's `Worker.start_jobs` claims every job with WATCH, EXISTS, ZSCORE and MULTI/PSETEX/EXEC: four round trips
# per job, and it repeats the first three on every poll for each job it is itself still running (they stay in
# the queue until they end). This script makes arq's checks atomically (not running elsewhere, still queued,
# due) and sets the same in-progress key with the same timeout, for as many jobs as there are free slots.
# KEYS: queue, then one in-progress key per candidate. ARGV: now (ms), in-progress timeout (ms), most to claim,
# then the candidates' job ids. Returns [job id, score, ...] for the jobs claimed, in queue order.
_CLAIM = """
local claimed = {}
local most = tonumber(ARGV[3])
for i = 2, #KEYS do
  if #claimed >= 2 * most then break end
  local id = ARGV[i + 2]
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and tonumber(score) <= tonumber(ARGV[1]) then
      redis.call('PSETEX', KEYS[i], ARGV[2], '1')
      claimed[#claimed + 1] = id
      claimed[#claimed + 1] = score
    end
  end
end
return claimed
"""


def hand_back_on_outage(coroutine: JobFunction) -> JobFunction:
    """A job that meets a Redis outage is retried shortly, never failed: arq deletes a failed job."""

    @functools.wraps(coroutine)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await coroutine(ctx, *args, **kwargs)
        except UNAVAILABLE as error:
            log.warning("redis unavailable during %s (%s): handing the job back", coroutine.__name__,
                        type(error).__name__)
            raise Retry(defer=HANDED_BACK_DEFER_SECONDS) from None

    return job


def with_job_lines(name: str, coroutine: JobFunction, *, quiet: bool, own_line: bool) -> JobFunction:
    """The lines a job writes: started (with its try) and done (with its result), and a retry. `quiet` (cron
    jobs: they log a line of their own when they did something) writes only the retry; `own_line` (a job whose
    function logs the line that says what it did) writes the start of a retry and the retry."""

    @functools.wraps(coroutine)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        ref, job_try = f"{ctx.get('job_id')}:{name}", int(ctx.get("job_try") or 1)
        if not quiet and (not own_line or job_try > 1):
            log.info("job %s started try=%d", ref, job_try)
        started = time.monotonic()
        try:
            result = await coroutine(ctx, *args, **kwargs)
        except Retry as retry:
            log.info("job %s retrying in %.2fs", ref, (retry.defer_score or 0) / 1000)
            raise
        if not quiet and not own_line:
            log.info("job %s done in %.2fs%s", ref, time.monotonic() - started,
                     "" if result is None else f": {str(result)[:200]}")
        return result

    return job


class QueueWorker(Worker):
    """arq's Worker, claiming jobs in one Lua call per poll, and outliving Redis being unavailable: arq lets such
    an error escape and the process exits; here the worker waits it out, and the end-of-job bookkeeping is
    retried until Redis answers, so no job is lost or waits for its in-progress key to expire. Running,
    retrying, timing out and finishing jobs stay arq's own code. Each override is listed in
    docs/ARCHITECTURE.md."""

    _claim_script: AsyncScript | None = None
    _outage_since: float | None = None
    _outage_waits: Iterator[float] = iter(())

    async def main(self) -> None:
        """Start once Redis answers, however long that takes (arq's start reads Redis before anything else)."""
        log.info("Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions))
        while True:
            try:
                await super().main()
                return
            except UNAVAILABLE as error:
                await self._wait_out(error)

    async def _poll_iteration(self) -> None:
        _end_if_cancelled()
        try:
            await super()._poll_iteration()
        except UNAVAILABLE as error:
            await self._wait_out(error)
            return
        if self._outage_since is not None:
            log.warning("redis is back after %.1fs: taking jobs again", time.monotonic() - self._outage_since)
            self._outage_since = None

    async def _wait_out(self, error: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self._outage_waits = outage_waits()
            log.warning("redis unavailable (%s: %s): waiting for it", type(error).__name__, error)
        # Jobs that ended meanwhile are reaped here: arq's own reaping re-raises their errors into this loop.
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
        await asyncio.sleep(next(self._outage_waits))

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        free = self.max_jobs - self.job_counter
        # The queue still lists the jobs this worker is running (arq removes a job when it ends): skip those
        # here rather than asking Redis about each of them on every poll.
        candidates = [job_id for job_id in (raw.decode() for raw in job_ids) if job_id not in self.tasks]
        if free <= 0 or not candidates:
            return
        for job_id, score in await self._claim(candidates, free):
            await self.sem.acquire()  # never waits: `free` slots were open and only this loop starts jobs
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _claim(self, job_ids: list[str], most: int) -> list[tuple[str, int]]:
        if self._claim_script is None:
            self._claim_script = self.pool.register_script(_CLAIM)
        reply = await self._claim_script(
            keys=[self.queue_name, *(in_progress_key_prefix + job_id for job_id in job_ids)],
            args=[timestamp_ms(), int(self.in_progress_timeout_s * 1000), most, *job_ids],
        )
        return [(reply[i].decode(), int(float(reply[i + 1]))) for i in range(0, len(reply), 2)]

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except UNAVAILABLE:
            # Redis went away before the job could start or end: hand it back (its claim released) once Redis is
            # back, rather than let it wait for the claim to expire.
            await self._until_redis_answers(lambda: self.pool.delete(in_progress_key_prefix + job_id))

    async def finish_job(self, *args: Any, **kwargs: Any) -> None:
        await self._until_redis_answers(lambda: super(QueueWorker, self).finish_job(*args, **kwargs))

    async def _until_redis_answers(self, step: Callable[[], Awaitable[T]]) -> T | None:
        """Run `step`, trying again while Redis is unavailable, until the job's claim would have expired anyway."""
        deadline = time.monotonic() + self.in_progress_timeout_s
        waits = outage_waits()
        while True:
            try:
                return await step()
            except UNAVAILABLE:
                if time.monotonic() > deadline:
                    log.warning("redis unavailable for %.0fs: leaving a job to its claim's expiry",
                                self.in_progress_timeout_s)
                    return None
                await asyncio.sleep(next(waits))

    async def close(self) -> None:
        try:
            await super().close()
        except UNAVAILABLE as error:
            log.warning("redis unavailable while stopping (%s): jobs still held are taken up when their claims "
                        "expire", type(error).__name__)


def _end_if_cancelled() -> None:
    """End the loop if its task was cancelled: redis-py swallows a cancellation that lands inside a command (most
    of those, measured), so the loop would poll on and a stopping worker never end. Python still counts the
    request (`Task.cancelling`) when the CancelledError itself was swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _wrapped(function: Function | CronJob, own_lines: Collection[str]) -> Function | CronJob:
    """A copy whose coroutine hands the job back on a Redis outage and writes the job's lines (the settings
    class's objects stay as declared)."""
    quiet = isinstance(function, CronJob)
    coroutine = with_job_lines(function.name, hand_back_on_outage(function.coroutine), quiet=quiet,
                               own_line=function.name in own_lines)
    return dataclasses.replace(function, coroutine=coroutine)


def create_worker(settings: type, redis: Redis, **overrides: Any) -> QueueWorker:
    """A worker described by an arq settings class, on the process's one Redis pool, plus per-process values
    (`ctx`, ...). The class's `own_lines` names functions that log their own line: the engine then logs only
    their retries."""
    own_lines: Collection[str] = getattr(settings, "own_lines", ())
    kwargs = {**worker_kwargs(settings), **overrides}
    kwargs["functions"] = [_wrapped(func(f), own_lines) for f in kwargs.get("functions", ())]
    kwargs["cron_jobs"] = [_wrapped(job, own_lines) for job in kwargs.get("cron_jobs") or ()]
    kwargs["redis_pool"] = ArqRedis(redis.connection_pool, job_serializer=kwargs.get("job_serializer"),
                                    job_deserializer=kwargs.get("job_deserializer"),
                                    default_queue_name=kwargs.get("queue_name") or keys.QUEUE)
    # The engine's lines replace arq's INFO lines (three per job); its warnings and failures stay.
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    worker = QueueWorker(**kwargs)
    worker.ctx["jobs_in_flight"] = lambda: worker.job_counter  # for the worker's heartbeat on /ops
    worker.on_stop = functools.partial(_stopped, worker)
    return worker


def _stopped(worker: QueueWorker, signal: Signals) -> None:
    """arq calls this once it has cancelled what still ran (after `job_completion_wait` on SIGTERM)."""
    cancelled = sum(not task.done() for task in worker.tasks.values())
    log.info("shutdown on %s: %d jobs complete, %d failed, %d retried%s", signal.name, worker.jobs_complete,
             worker.jobs_failed, worker.jobs_retried,
             f"; {cancelled} still running cancelled, will be run again" if cancelled else "")
