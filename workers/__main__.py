"""`python -m workers`: validate configuration, then run the arq worker."""

from __future__ import annotations

import logging

from arq.worker import run_worker

from schemas.settings import load_settings
from workers.settings import WorkerSettings


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_worker(WorkerSettings,  # type: ignore[arg-type]
               redis_settings=WorkerSettings.redis_settings_for(settings.redis_url),
               ctx={"settings": settings})


if __name__ == "__main__":
    main()
