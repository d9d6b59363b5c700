"""Run another instance of the web app (e.g. with other settings) on a loopback port for one test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from ingress.app import create_app
from schemas.settings import Settings
from tools.embedded_redis import free_port


@asynccontextmanager
async def running_app(settings: Settings, **changes: Any) -> AsyncIterator[str]:
    port = free_port()
    changed = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}", **changes})
    server = uvicorn.Server(uvicorn.Config(create_app(changed), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield changed.public_base_url
    finally:
        server.should_exit = True
        await task
