"""The arq worker, with one change: jobs are claimed in one Lua call per poll instead of four round trips each.

arq's `Worker.start_jobs` claims every job with WATCH, EXISTS, ZSCORE and MULTI/PSETEX/EXEC: four Redis round
trips per job, and it repeats the first three on every poll for each job it is itself still running (they stay
in the queue until they end). Here the jobs this worker runs are skipped locally, and one script makes arq's
checks atomically for the rest (not running elsewhere, still queued, due) and sets the same in-progress key
with the same timeout, for as many jobs as there are free slots. Everything else (running, retrying, timing
out, finishing jobs) is arq's own code. arq is pinned in pyproject.toml: this relies on `Worker` attributes
(`sem`, `job_counter`, `tasks`).
"""

from __future__ import annotations

from typing import Any

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker as ArqWorker
from arq.worker import get_kwargs
from redis.commands.core import AsyncScript

from workers.settings import WorkerSettings

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


class Worker(ArqWorker):
    _claim_script: AsyncScript | None = None

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


def create_worker(settings: type = WorkerSettings, **overrides: Any) -> Worker:
    """A worker described by a settings class (the service's unless told), plus per-process values (Redis, ctx)."""
    return Worker(**{**get_kwargs(settings), **overrides})
