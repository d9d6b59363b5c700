"""SIGTERM, as a deploy sends it: a process stops taking work, finishes or hands back what it holds within 30 s,
and exits 0; a job handed back runs again at once, not when its claim would have expired (CONTRACT)."""

from __future__ import annotations

import asyncio
import time

from sandbox.server import RunningSandbox
from tests.support.nooks import call_event
from tests.support.processes import service_env, started, wait_ready
from tests.support.service import Service, eventually

DEPLOY_GRACE_SECONDS = 30


def env_for(svc: Service, outreach: RunningSandbox, **extra: str) -> dict[str, str]:
    # A database of its own; claims last 70 s (job timeout 60 s + 10 s), so "at once" is told apart from expiry.
    return service_env(svc.settings, outreach, REDIS_URL=svc.settings.redis_url.rsplit("/", 1)[0] + "/4",
                       WORKER_JOB_TIMEOUT="60", **extra)


def driver_for(svc: Service, env: dict[str, str]) -> Service:
    return Service(base_url=env["PUBLIC_BASE_URL"], settings=svc.settings, redis=svc.redis, http=svc.http,
                   sandbox=svc.sandbox, api_token=svc.api_token, ops=svc.ops)


async def completed(svc: Service) -> bool:
    return await svc.task_state(1122) == "complete"


async def in_mark_complete(svc: Service, env: dict[str, str], call_id: str, slow_ms: int) -> None:
    """Connect, then send a call whose markComplete Outreach answers `slow_ms` late; return once the call is in
    Outreach (its job is then waiting on markComplete)."""
    driver = driver_for(svc, env)
    await wait_ready(driver.base_url)
    assert (await driver.connect())[0] == 200
    await svc.sandbox.faults(latency_by_prefix={"/api/v2/tasks/1122/actions": slow_ms})
    assert (await driver.post_event(call_event(call_id)))[0] == 202
    await eventually(lambda: svc.calls(call_id), timeout=15)


async def test_worker_finishes_its_job_then_exits_0(svc: Service, outreach: RunningSandbox) -> None:
    env = env_for(svc, outreach)
    async with started("web", env), started("worker", env) as worker:
        await in_mark_complete(svc, env, "call_finishing", 3000)
        status, took = await asyncio.to_thread(worker.terminate)
        assert status == 0 and took < DEPLOY_GRACE_SECONDS, worker.output()[-2000:]
        assert await completed(svc)  # finished before exiting, not abandoned
    assert len(await svc.calls("call_finishing")) == 1


async def test_worker_hands_back_a_job_it_cannot_finish_and_another_runs_it_at_once(
        svc: Service, outreach: RunningSandbox) -> None:
    env = env_for(svc, outreach, WORKER_SHUTDOWN_WAIT="2")
    async with started("web", env), started("worker", env) as first:
        await in_mark_complete(svc, env, "call_handed_back", 40_000)
        status, took = await asyncio.to_thread(first.terminate)
        assert status == 0 and took < DEPLOY_GRACE_SECONDS, first.output()[-2000:]
        assert "cancelled, will be run again" in first.output()
        await svc.sandbox.faults(latency_by_prefix={})
        handed_back_at = time.monotonic()
        async with started("worker", env):
            await eventually(lambda: completed(svc), timeout=20, interval=0.2)
        assert time.monotonic() - handed_back_at < 20  # its claim would have lasted 70 s
    assert len(await svc.calls("call_handed_back")) == 1


async def test_web_answers_the_request_in_flight_then_exits_0(svc: Service, outreach: RunningSandbox) -> None:
    env = env_for(svc, outreach)
    driver = driver_for(svc, env)
    async with started("web", env) as web:
        await wait_ready(driver.base_url)
        assert (await driver.connect())[0] == 200
        await svc.sandbox.faults(latency_ms=2000)
        in_flight = asyncio.create_task(driver.api("GET", "/v1/teams/team_acme/reps/ana@acme.com/call-tasks"))
        await asyncio.sleep(0.5)
        status, took = await asyncio.to_thread(web.terminate)
        assert (await in_flight)[0] == 200
        assert status == 0 and took < DEPLOY_GRACE_SECONDS, web.output()[-2000:]
