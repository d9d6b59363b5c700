"""The real `web` and `worker` processes from the Procfile, driven only through HTTP.

Also: a missing required variable stops a process with one clear line, and a worker killed in the middle of a
job is replaced by another that finishes it, with still exactly one call in Outreach.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from collections.abc import Iterator

import pytest

from sandbox.server import RunningSandbox
from schemas.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.nooks import call_event
from tests.support.processes import ROOT, procfile, service_env, started, wait_ready
from tests.support.service import Service, eventually


@pytest.fixture
def process_env(settings: Settings, outreach: RunningSandbox) -> Iterator[dict[str, str]]:
    yield service_env(settings, outreach, REDIS_URL=settings.redis_url.rsplit("/", 1)[0] + "/3",  # a db of its own
                      WORKER_JOB_TIMEOUT="5")


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
        await svc.sandbox.faults(latency_by_prefix={})
        async with started("worker", process_env):
            async def completed() -> bool:
                return await svc.task_state(1122) == "complete"
            await eventually(completed, timeout=40, interval=0.25)
        assert len(await svc.calls("call_proc_2")) == 1
        assert len(await svc.calls("call_proc_1")) == 1
    await asyncio.sleep(0)
