"""`python -m workers`: validate configuration, then run the arq worker."""

from __future__ import annotations

import asyncio
import logging
import os

from arq.worker import run_worker

from schemas.settings import load_settings
from workers.settings import WorkerSettings


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if os.environ.get("WORKER_UVLOOP", "1") != "0":
        # The loop uvicorn already gives the web process; arq would otherwise run on asyncio's own (docs/tuning.md).
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    run_worker(WorkerSettings,  # type: ignore[arg-type]
               redis_settings=WorkerSettings.redis_settings_for(settings.redis_url),
               ctx={"settings": settings})


if __name__ == "__main__":
    main()
