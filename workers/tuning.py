"""Worker tuning, in one place, each overridable by an environment variable (see docs/tuning.md)."""

from __future__ import annotations

import os


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


# Jobs mostly wait on Outreach, so one process runs many at once.
MAX_JOBS = int(env_number("WORKER_MAX_JOBS", 200))
# arq's default 0.5 s poll adds up to half a second to every call; a short poll costs a little CPU while idle
# (measured in docs/benchmarks.md).
POLL_DELAY = env_number("WORKER_POLL_DELAY", 0.02)
QUEUE_READ_LIMIT = int(env_number("WORKER_QUEUE_READ_LIMIT", 400))
# With Python's default young generation (700) cyclic GC took a visible share of the worker's CPU; jobs' garbage
# is nearly all freed by reference counting, so it may grow larger between passes, but not so large that
# cyclic garbage piles up (docs/tuning.md has the measurements).
GC_GEN0_THRESHOLD = int(env_number("WORKER_GC_GEN0_THRESHOLD", 5_000))
# A job whose worker died is taken up again when its in-progress key expires: JOB_TIMEOUT + 10 s.
JOB_TIMEOUT = env_number("WORKER_JOB_TIMEOUT", 60)
# Our own deadline inside a job, below arq's, so a slow Outreach becomes a retry and never a lost job.
JOB_BUDGET = JOB_TIMEOUT * 0.75
# SIGTERM: running jobs get this long to finish before they are handed back; with closing, the process is gone
# well within the 30 s a deploy gives it (CONTRACT "Faults the service rides out").
SHUTDOWN_WAIT = int(env_number("WORKER_SHUTDOWN_WAIT", 20))
