"""The Procfile's real processes (`python -m ingress`, `python -m workers`), started, signalled and watched."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import aiohttp

from runtime.embedded_redis import free_port
from sandbox.server import RunningSandbox
from schemas.settings import Settings
from tests.support.nooks import EVENTS_SECRET
from tests.support.service import eventually

ROOT = Path(__file__).resolve().parent.parent.parent
API_TOKEN = "nooks-api-token-for-tests"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines) if command}


def service_env(settings: Settings, outreach: RunningSandbox, **extra: str) -> dict[str, str]:
    """The environment of a web or worker process talking to the test's sandbox; REDIS_URL etc. from `extra`."""
    port = extra.pop("PORT", None) or str(free_port())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NOOKS_", "OUTREACH_", "OPS_", "REDIS_"))}
    return {
        **base,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": port,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "REDIS_URL": settings.redis_url,
        "OUTREACH_API_URL": outreach.api_url, "OUTREACH_OAUTH_URL": outreach.oauth_url,
        "OUTREACH_CLIENT_ID": "sandbox-client-id", "OUTREACH_CLIENT_SECRET": "sandbox-client-secret",
        "NOOKS_EVENTS_SECRET": EVENTS_SECRET, "NOOKS_API_TOKEN": API_TOKEN,
        "TOKEN_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "OPS_USERNAME": settings.ops_username or "",
        "OPS_PASSWORD": settings.ops_password.get_secret_value() if settings.ops_password else "",
        **extra,
    }


class Process:
    """One process of the Procfile, its output kept in a file (never a pipe a chatty process could fill)."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.log: IO[bytes] = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(shlex.split(procfile()[name]), cwd=ROOT, env=env,
                                      stdout=self.log, stderr=self.log)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took to exit). Killed, and status -9, past `timeout`."""
        started = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        try:
            status = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            status = self.popen.wait()
        return status, time.monotonic() - started

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait(timeout=10)

    def close(self) -> None:
        if self.alive():
            self.terminate(timeout=10)
        self.log.close()


@asynccontextmanager
async def started(name: str, env: dict[str, str]) -> AsyncIterator[Process]:
    process = Process(name, env)
    try:
        yield process
    finally:
        process.close()


async def wait_ready(base_url: str, timeout: float = 20) -> None:
    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{base_url}/readyz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False
    await eventually(ready, timeout=timeout, interval=0.1)
