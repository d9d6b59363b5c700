"""The real `web` and `worker` processes from the Procfile, driven only through HTTP.

Also: a missing required variable stops a process with one clear line, and a worker killed in the middle of a
job is replaced by another that finishes it, with still exactly one call in Outreach.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from runtime.embedded_redis import free_port
from sandbox.server import RunningSandbox
from schemas.settings import Settings
from tests.conftest import API_TOKEN, TOKEN_KEYS
from tests.support.nooks import EVENTS_SECRET, call_event
from tests.support.service import Service, eventually

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines) if command}


@pytest.fixture
def process_env(settings: Settings, outreach: RunningSandbox) -> Iterator[dict[str, str]]:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NOOKS_", "OUTREACH_", "OPS_", "REDIS_"))}
    yield {
        **base,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "REDIS_URL": settings.redis_url.rsplit("/", 1)[0] + "/3",  # a database of its own
        "OUTREACH_API_URL": outreach.api_url, "OUTREACH_OAUTH_URL": outreach.oauth_url,
        "OUTREACH_CLIENT_ID": "sandbox-client-id", "OUTREACH_CLIENT_SECRET": "sandbox-client-secret",
        "NOOKS_EVENTS_SECRET": EVENTS_SECRET, "NOOKS_API_TOKEN": API_TOKEN,
        "TOKEN_ENCRYPTION_KEYS": ",".join(TOKEN_KEYS), "WORKER_JOB_TIMEOUT": "5",
    }


@asynccontextmanager
async def started(name: str, env: dict[str, str]) -> AsyncIterator[subprocess.Popen[bytes]]:
    log = tempfile.TemporaryFile()  # not a pipe: a chatty process must never block on a full one
    process = subprocess.Popen(shlex.split(procfile()[name]), cwd=ROOT, env=env,
                               stdout=log, stderr=log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


async def wait_ready(base_url: str) -> None:
    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{base_url}/readyz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False
    await eventually(ready, timeout=20, interval=0.1)


def test_procfile_declares_web_and_worker() -> None:
    assert set(procfile()) == {"web", "worker"}


@pytest.mark.parametrize("name", ["web", "worker"])
def test_missing_required_variable_is_one_clear_line(name: str, process_env: dict[str, str]) -> None:
    env = {k: v for k, v in process_env.items() if k != "NOOKS_API_TOKEN"}
    result = subprocess.run(shlex.split(procfile()[name]), cwd=ROOT, env=env, capture_output=True,
                            timeout=30, check=False)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert lines == ["configuration error: NOOKS_API_TOKEN is required but not set"]


async def test_real_processes_log_a_call_and_survive_a_killed_worker(
        svc: Service, process_env: dict[str, str]) -> None:
    base = process_env["PUBLIC_BASE_URL"]
    driver = Service(base_url=base, settings=svc.settings, redis=svc.redis, http=svc.http, sandbox=svc.sandbox,
                     api_token=API_TOKEN, ops=svc.ops)
    async with started("web", process_env), started("worker", process_env) as worker:
        await wait_ready(base)
        status, page = await driver.connect()
        assert status == 200, page
        assert (await driver.post_event(call_event("call_proc_1", task_id=None)))[0] == 202
        await eventually(lambda: svc.calls("call_proc_1"), timeout=15)

        # Slow markComplete down, then kill the worker after the call exists but before the job finished.
        await svc.sandbox.faults(latency_by_prefix={"/api/v2/tasks/1122/actions": 4000})
        assert (await driver.post_event(call_event("call_proc_2")))[0] == 202
        await eventually(lambda: svc.calls("call_proc_2"), timeout=15)
        worker.kill()
        worker.wait(timeout=10)
        await svc.sandbox.faults(latency_by_prefix={})
        async with started("worker", process_env):
            async def completed() -> bool:
                return await svc.task_state(1122) == "complete"
            await eventually(completed, timeout=40, interval=0.25)
        assert len(await svc.calls("call_proc_2")) == 1
        assert len(await svc.calls("call_proc_1")) == 1
    await asyncio.sleep(0)
