"""`python -m ingress`: validate configuration, then serve the app under uvicorn on $HOST:$PORT (0.0.0.0:8000)."""

from __future__ import annotations

import gc
import signal
import sys

import uvicorn

from ingress.app import create_app
from runtime.logs import configure_logging
from schemas.settings import load_settings

SHUTDOWN_SECONDS = 20  # requests in flight at SIGTERM get this long; the contract allows 30 s in all


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    app = create_app(settings)
    # Everything loaded by now (modules, the app) lives as long as the process: keep it out of every GC pass, so a
    # full collection under load scans only what requests left behind (docs/tuning.md).
    gc.freeze()
    # SIGTERM is a deploy's normal stop: uvicorn stops accepting, lets requests in flight finish (at most
    # SHUTDOWN_SECONDS), then re-raises the signal it caught; this handler turns that into exit status 0 (the
    # default action would report "killed by SIGTERM"). Before uvicorn starts, it simply exits 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    # Access logs stay off: URLs carry rep emails and OAuth codes, and they would add nothing per event.
    uvicorn.run(app, host=settings.host, port=settings.port,
                access_log=False, proxy_headers=True, server_header=False, log_level="info",
                limit_concurrency=settings.web_max_concurrency, timeout_keep_alive=5,
                log_config=None,  # uvicorn's own lines go through the root handler (LOG_FORMAT)
                timeout_graceful_shutdown=SHUTDOWN_SECONDS)


if __name__ == "__main__":
    main()
