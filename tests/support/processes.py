"""The Procfile's real processes (`python -m ingress`, `python -m workers`) for one test, started by the one stack
starter (tools/stack.py), signalled and watched."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sandbox.server import RunningSandbox
from schemas.settings import Settings
from tests.support.nooks import EVENTS_SECRET
from tools import stack
from tools.stack import ROOT, Proc, procfile

__all__ = ["API_TOKEN", "ROOT", "Proc", "procfile", "service_env", "start", "started", "wait_ready"]

API_TOKEN = "nooks-api-token-for-tests"


def service_env(settings: Settings, outreach: RunningSandbox, **extra: str) -> dict[str, str]:
    """The environment of a web or worker process talking to the test's sandbox; REDIS_URL etc. from `extra`."""
    port = int(extra.pop("PORT", None) or stack.free_port())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NOOKS_", "OUTREACH_", "OPS_", "REDIS_"))}
    return stack.child_env(base, **{
        **stack.web_env(port), **stack.sandbox_env(outreach.base_url),
        "REDIS_URL": settings.redis_url, "NOOKS_EVENTS_SECRET": EVENTS_SECRET, "NOOKS_API_TOKEN": API_TOKEN,
        "TOKEN_ENCRYPTION_KEYS": ",".join(settings.encryption_keys), "OPS_USERNAME": settings.ops_username or "",
        "OPS_PASSWORD": settings.ops_password.get_secret_value() if settings.ops_password else "", **extra})


def start(name: str, env: dict[str, str]) -> Proc:
    return stack.start_procfile(name, env)


@asynccontextmanager
async def started(name: str, env: dict[str, str]) -> AsyncIterator[Proc]:
    process = start(name, env)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.close)


async def wait_ready(base_url: str, timeout: float = 20) -> None:
    await asyncio.to_thread(stack.wait_http, f"{base_url}/readyz", None, timeout)
