"""`python -m workers`: validate configuration, then run the arq worker."""

from __future__ import annotations

import asyncio
import gc
import logging
import os

from runtime.arq_internals import create_worker, quiet_job_lines
from runtime.logs import configure_logging
from schemas.settings import load_settings
from store import jobs
from workers.settings import WorkerSettings
from workers.tuning import GC_GEN0_THRESHOLD


def main() -> None:
    settings = load_settings()
    configure_logging()
    # The format uses none of these, and each costs CPU on every line: three per job, with arq's own two
    # (the "Optimization" section of Python's logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # arq's start and success lines of log_call say what its own line says (one line per call, docs/tuning.md).
    quiet_job_lines(jobs.LOG_CALL)
    if os.environ.get("WORKER_UVLOOP", "1") != "0":
        # The loop uvicorn already gives the web process; arq would otherwise run on asyncio's own (docs/tuning.md).
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    worker = create_worker(WorkerSettings, redis_settings=WorkerSettings.redis_settings_for(settings),
                           ctx={"settings": settings})
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
    gc.freeze()  # what exists by now (modules, settings) lives as long as the process: no GC pass need scan it
    worker.run()


if __name__ == "__main__":
    main()
