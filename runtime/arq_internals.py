"""Everything the service relies on in arq beyond its documented API, in one module (arq is pinned in
pyproject.toml; each numbered behaviour has a test in tests/runtime/test_arq_internals.py that fails on an arq
upgrade that changes it). Kept because the benchmarks show they pay (docs/tuning.md, docs/benchmarks.md).

Relied on, as in arq 0.28:
1. The job format (`arq.jobs.serialize_job`): `{"t": try, "f": function, "a": args, "k": kwargs, "et": enqueued
   ms}` under `arq:job:<id>` (serialized by the worker's `job_serializer`: JSON here, never pickle), the job id in
   the queue's sorted set scored by the ms it is due, and the job key living `due - enqueued + expires_extra_ms`
   ms, as `ArqRedis.enqueue_job` sets it. `job_payload` and `job_ttl_ms` write jobs that way from one Lua call
   (store/queue.py) instead of `enqueue_job`'s WATCH/EXISTS/MULTI round trips. arq drops a job whose key has
   expired, so a call's job is written without a TTL (`store.queue.ttl_for`): an acknowledged event waits for
   the workers however long they are down.
2. The key prefixes of `arq.constants` (job, result, retry, in-progress), which store/keys.py lists.
3. `Worker` internals: `start_jobs(job_ids)` is what each poll calls with the due job ids; `sem` (a semaphore of
   `max_jobs + 1`), `job_counter`, `tasks` (job id → running task), `_release_sem_dec_counter_on_complete()`,
   `run_job(job_id, score)`, `in_progress_timeout_s`, `pool` and `loop`. `ClaimingWorker` replaces
   `start_jobs` only, to claim jobs in one Lua call per poll. `job_counter` is also what a worker's heartbeat
   reports as its jobs in flight (runtime/flusher.py).
4. arq's log lines for a job's start (`'%6.2fs → %s(%s)%s'`, args: seconds, "<job id>:<function>", args, extra
   with ` try=N` on a retry) and success (`'%6.2fs ← %s ● %s'`) on the `arq.worker` logger; a cron job is named
   by its name alone (no "<job id>:"). `QuietJobLines` drops them for `log_call` (its own line says more:
   workers/log_call.py), `QuietCronLines` for cron jobs (each logs a line of its own when it did something).
5. How a worker runs and ends: `main()` (connect, startup, then the poll loop), `_poll_iteration()` (one poll; it
   re-raises a finished job task's error), `run_job` ends every job with `finish_job(job_id, finish, result_data,
   result_timeout_s, keep_result_forever, incr_score, keep_in_progress)`, `close()`, `functions` (name → `Function`
   or `CronJob` dataclasses with a `coroutine`), and a `Retry` or a cancelled job (SIGTERM) leaving the job queued
   with its in-progress key deleted. `ClaimingWorker` wraps those to ride out Redis being unavailable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import orjson
from arq import Retry
from arq.constants import expires_extra_ms, in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from arq.worker import get_kwargs as worker_kwargs
from redis.commands.core import AsyncScript

from store.redis import UNAVAILABLE

log = logging.getLogger("workers")
T = TypeVar("T")

# 1. The job format --------------------------------------------------------------------------------------------


def job_payload(function: str, args: list[Any], enqueue_ms: int) -> bytes:
    """A job exactly as arq's `serialize_job` writes it, in JSON (first try: `t` is None)."""
    return orjson.dumps({"t": None, "f": function, "a": args, "k": {}, "et": enqueue_ms})


def job_ttl_ms(due_ms: int, enqueue_ms: int) -> int:
    """How long the job key lives: what `enqueue_job` gives it when no `_expires` is passed."""
    return due_ms - enqueue_ms + expires_extra_ms


def serialize(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


def deserialize(raw: bytes) -> dict[str, Any]:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("job is not a JSON object")
    return value


# 3. The worker's claim ----------------------------------------------------------------------------------------

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


# 5. Riding out Redis outages ---------------------------------------------------------------------------------

# While Redis is unavailable: how long between tries (growing to the cap), and how soon a job that met the outage
# runs again once Redis is back.
OUTAGE_FIRST_WAIT_SECONDS = 0.1
OUTAGE_MAX_WAIT_SECONDS = 1.0
HANDED_BACK_DEFER_SECONDS = 1.0


def hand_back_on_outage(coroutine: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
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


class ClaimingWorker(Worker):
    """arq's Worker, claiming jobs in one Lua call per poll (3.), and outliving Redis being unavailable (5.):
    arq lets such an error escape its poll loop and the process exits; here the poll waits it out, a job that
    met it is handed back (`Retry`) instead of failed, and the end-of-job bookkeeping is retried until Redis
    answers, so no job is lost or waits for its in-progress key to expire. Running, retrying, timing out and
    finishing jobs stay arq's own code."""

    _claim_script: AsyncScript | None = None
    _outage_since: float | None = None
    _outage_wait: float = OUTAGE_FIRST_WAIT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Copies: the settings class's Function and CronJob objects stay as declared.
        for name, function in self.functions.items():
            self.functions[name] = dataclasses.replace(function, coroutine=hand_back_on_outage(function.coroutine))

    async def main(self) -> None:
        """Start once Redis answers, however long that takes (arq gives up after a few tries)."""
        while True:
            try:
                await super().main()
                return
            except UNAVAILABLE as error:
                await self._wait_out(error)

    async def _poll_iteration(self) -> None:
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
            self._outage_wait = OUTAGE_FIRST_WAIT_SECONDS
            log.warning("redis unavailable (%s: %s): waiting for it", type(error).__name__, error)
        # Jobs that ended meanwhile are reaped here: arq's own reaping re-raises their errors into this loop.
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
        await asyncio.sleep(self._outage_wait)
        self._outage_wait = min(self._outage_wait * 2, OUTAGE_MAX_WAIT_SECONDS)

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except UNAVAILABLE:
            # Redis went away before the job could start or end: hand it back (its claim released) once Redis is
            # back, rather than let it wait for the claim to expire.
            await self._until_redis_answers(lambda: self.pool.delete(in_progress_key_prefix + job_id))

    async def finish_job(self, *args: Any, **kwargs: Any) -> None:
        await self._until_redis_answers(lambda: super(ClaimingWorker, self).finish_job(*args, **kwargs))

    async def _until_redis_answers(self, step: Callable[[], Awaitable[T]]) -> T | None:
        """Run `step`, trying again while Redis is unavailable, until the job's claim would have expired anyway."""
        deadline = time.monotonic() + self.in_progress_timeout_s
        wait = OUTAGE_FIRST_WAIT_SECONDS
        while True:
            try:
                return await step()
            except UNAVAILABLE:
                if time.monotonic() > deadline:
                    log.warning("redis unavailable for %.0fs: leaving a job to its claim's expiry",
                                self.in_progress_timeout_s)
                    return None
                await asyncio.sleep(wait)
                wait = min(wait * 2, OUTAGE_MAX_WAIT_SECONDS)

    async def close(self) -> None:
        try:
            await super().close()
        except UNAVAILABLE as error:
            log.warning("redis unavailable while stopping (%s): jobs still held are taken up when their claims "
                        "expire", type(error).__name__)

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


def create_worker(settings: type, **overrides: Any) -> ClaimingWorker:
    """A worker described by a settings class, plus per-process values (Redis, ctx)."""
    worker = ClaimingWorker(**{**worker_kwargs(settings), **overrides})
    worker.ctx["jobs_in_flight"] = lambda: worker.job_counter  # for the worker's heartbeat on /ops
    return worker


# 4. arq's per-job log lines -----------------------------------------------------------------------------------

JOB_STARTED = "%6.2fs → %s(%s)%s"
JOB_SUCCEEDED = "%6.2fs ← %s ● %s"


class QuietJobLines(logging.Filter):
    """Drops arq's start and success lines of one function's jobs, except the start line of a retry
    (`try=N`); every other line (other jobs, retries, failures, timeouts) is kept."""

    def __init__(self, function: str) -> None:
        super().__init__()
        self._suffix = f":{function}"

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg not in (JOB_STARTED, JOB_SUCCEEDED) or not isinstance(args, tuple) or len(args) < 2:
            return True
        if not str(args[1]).endswith(self._suffix):
            return True
        return record.msg == JOB_STARTED and " try=" in str(args[3])  # arq's `extra`: " try=N", " delayed=…s"


class QuietCronLines(logging.Filter):
    """Drops arq's start and success lines of cron jobs: every 10 s `release_ready` wrote two lines saying that
    nothing happened. Their failures and timeouts are kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg not in (JOB_STARTED, JOB_SUCCEEDED) or not isinstance(args, tuple) or len(args) < 2:
            return True
        return ":" in str(args[1])  # arq names a cron job by its name alone, any other "<job id>:<function>"


def quiet_job_lines(function: str) -> None:
    """arq's start and success lines, dropped for `function`'s jobs and for every cron job."""
    logger = logging.getLogger("arq.worker")
    logger.addFilter(QuietJobLines(function))
    logger.addFilter(QuietCronLines())
