"""Redis restarting (and reloading a large append-only file meanwhile) stops no process: web answers 503 with a
clear error, and web and worker recover by themselves within 10 s of Redis being ready (CONTRACT)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis

from sandbox.server import RunningSandbox
from tests.support.nooks import call_event
from tests.support.processes import Proc, service_env, started, wait_ready
from tests.support.redis_nodes import RedisNode
from tests.support.service import Service, eventually

RECOVERY_SECONDS = 10  # the contract's bound, from Redis answering again


@asynccontextmanager
async def stack(svc: Service, outreach: RunningSandbox, redis_url: str, **env: str
                ) -> AsyncIterator[tuple[Service, Proc, Proc]]:
    """A web and a worker process on their own Redis, driven as Nooks and a rep would."""
    process_env = service_env(svc.settings, outreach, REDIS_URL=redis_url, **env)
    redis = Redis.from_url(redis_url)
    driver = Service(base_url=process_env["PUBLIC_BASE_URL"], settings=svc.settings, redis=redis, http=svc.http,
                     sandbox=svc.sandbox, api_token=svc.api_token, ops=svc.ops)
    try:
        async with started("web", process_env) as web, started("worker", process_env) as worker:
            await wait_ready(driver.base_url)
            yield driver, web, worker
    finally:
        await redis.aclose()


async def landed(svc: Service, call_id: str) -> bool:
    return len(await svc.calls(call_id)) == 1


async def test_web_and_worker_ride_out_a_restart_that_loads_a_large_aof(
        svc: Service, outreach: RunningSandbox, tmp_path: Path) -> None:
    node = RedisNode(tmp_path / "redis")
    node.start()
    try:
        async with stack(svc, outreach, node.url) as (driver, web, worker):
            assert (await driver.connect())[0] == 200
            assert (await driver.post_event(call_event("call_before")))[0] == 202
            await eventually(lambda: landed(svc, "call_before"), timeout=15)
            await asyncio.to_thread(node.fill)

            await asyncio.to_thread(node.stop)
            status, body = await driver.post_event(call_event("call_refused_while_down"))
            assert status == 503 and body["error"]["code"] == "queue_unavailable"
            status, body = await driver.api("GET", "/v1/teams/team_acme/reps/ana@acme.com/connection")
            assert status == 503 and body["error"]["code"] == "redis_unavailable"

            # Restarted, it answers LOADING while it reads the file back (slowed so that it lasts seconds).
            await asyncio.to_thread(node.start_loading_slowly)
            assert await asyncio.to_thread(node.loading)
            status, body = await driver.api("GET", "/v1/teams/team_acme/reps/ana@acme.com/connection")
            assert status == 503 and body["error"]["code"] == "redis_unavailable"
            probed = time.monotonic()
            async with driver.http.get(f"{driver.base_url}/readyz") as response:
                assert response.status == 503
            assert time.monotonic() - probed < 1.0  # CONTRACT: within 1 s whatever state Redis is in
            await asyncio.to_thread(node.wait_ready)
            ready_at = time.monotonic()

            await wait_ready(driver.base_url, timeout=RECOVERY_SECONDS)
            assert (await driver.post_event(call_event("call_after")))[0] == 202
            await eventually(lambda: landed(svc, "call_after"), timeout=RECOVERY_SECONDS)
            assert time.monotonic() - ready_at < RECOVERY_SECONDS
            assert web.alive() and worker.alive(), worker.output()[-2000:]
            assert "redis is back" in worker.output()
    finally:
        node.kill()
