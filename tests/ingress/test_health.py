"""Probes and metrics."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import time
from pathlib import Path

import aiohttp

from tests.support.nooks import call_event
from tests.support.servers import running_app
from tests.support.service import METRICS_TOKEN, OPS_READONLY, Service
from tools.embedded_redis import free_port, start_redis

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


async def test_healthz_and_readyz(svc: Service) -> None:
    async with svc.http.get(f"{svc.base_url}/healthz") as response:
        assert response.status == 200
    async with svc.http.get(f"{svc.base_url}/readyz") as response:
        assert response.status == 200 and (await response.json())["redis"] == "ok"


async def test_readyz_is_503_without_redis(svc: Service) -> None:
    async with running_app(svc.settings, redis_url=f"redis://127.0.0.1:{free_port()}/0") as base, \
            aiohttp.ClientSession() as http:
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 503
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{base}/metrics", headers=svc.basic()) as response:
            assert response.status == 200 and "nooks_outreach_redis_up 0.0" in await response.text()


async def test_readyz_answers_within_a_second_even_when_redis_answers_nothing(svc: Service) -> None:
    """CONTRACT: /readyz answers within 1 s whatever state Redis is in. A Redis that accepts connections but never
    answers (stopped, swapping, loading between chunks) held it for the 5 s socket timeout and more."""
    redis = start_redis(persist=False)
    try:
        async with running_app(svc.settings, redis_url=redis.url) as base, aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
            redis.process.send_signal(signal.SIGSTOP)
            try:
                for _ in range(3):
                    started = time.monotonic()
                    async with http.get(f"{base}/readyz") as response:
                        assert response.status == 503
                        assert (await response.json())["redis"] == "unresponsive"
                    assert time.monotonic() - started < 1.0
            finally:
                redis.process.send_signal(signal.SIGCONT)

            async def ready() -> bool:
                async with http.get(f"{base}/readyz") as response:
                    return response.status == 200
            deadline = time.monotonic() + 10
            while not await ready():
                assert time.monotonic() < deadline, "/readyz did not recover"
                await asyncio.sleep(0.1)
    finally:
        redis.stop()


async def test_metrics_are_prometheus_text(svc: Service) -> None:
    await svc.post_event({"id": "evt_x", "type": "call.started", "data": {}})
    await svc.post_event(call_event())
    await svc.figures(events_ignored=1)  # counted in memory, written by the flusher within a quarter second
    async with svc.http.get(f"{svc.base_url}/metrics", headers=svc.basic()) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = await response.text()
    assert 'nooks_outreach_total{outcome="events_ignored"} 1.0' in text
    assert "nooks_outreach_queue_depth" in text and "nooks_outreach_dead_letters" in text


async def test_the_grafana_dashboard_uses_only_metrics_that_are_served(svc: Service) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"nooks_outreach_[a-z_]+", target["expr"])}
    text = await svc.metrics()
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("nooks_outreach_")}
    # A family is served from its first scrape, before it has samples.
    for name, kind in re.findall(r"^# TYPE (\S+) (counter|histogram)$", text, re.MULTILINE):
        served |= {name} if kind == "counter" else {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    assert used and used <= served, used - served


async def test_metrics_need_operator_credentials_or_the_metrics_token(svc: Service) -> None:
    """CONTRACT: operator credentials (read-only ones too) or the METRICS_TOKEN bearer; 401 otherwise."""
    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    refused = [{}, {"Authorization": "Bearer wrong-token-of-sixteen"}, {"Authorization": f"Basic {METRICS_TOKEN}"},
               basic(svc.ops[0], "wrong-password"), {"Authorization": f"Bearer {svc.api_token}"}]
    for headers in refused:
        async with svc.http.get(f"{svc.base_url}/metrics", headers=headers) as response:
            assert response.status == 401, headers
            assert (await response.json())["error"]["code"] == "unauthorized"
            assert "nooks_outreach" not in await response.text()
    admitted = [svc.basic(), basic(*OPS_READONLY), {"Authorization": f"Bearer {METRICS_TOKEN}"}]
    for headers in admitted:
        async with svc.http.get(f"{svc.base_url}/metrics", headers=headers) as response:
            assert response.status == 200, headers
            assert "nooks_outreach_queue_depth" in await response.text()
