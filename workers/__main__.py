"""`python -m workers`: validate configuration, then run the arq worker on the process's one Redis pool."""

from __future__ import annotations

import asyncio
import gc
import logging

from runtime.logs import configure_logging
from schemas.settings import load_settings
from store.job_queue import create_worker
from store.redis import connect
from workers.settings import WorkerSettings, tuned


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    # The format uses none of these, and each costs CPU on every line (the "Optimization" section of Python's
    # logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if settings.worker_uvloop:
        # The loop uvicorn already gives the web process; arq would otherwise run on asyncio's own (docs/tuning.md).
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    worker = create_worker(WorkerSettings, connect(settings), ctx={"settings": settings}, **tuned(settings))
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(settings.worker_gc_gen0_threshold, gen1, gen2)
    gc.freeze()  # what exists by now (modules, settings) lives as long as the process: no GC pass need scan it
    worker.run()


if __name__ == "__main__":
    main()
