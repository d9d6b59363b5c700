"""Probes and metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp

from runtime.embedded_redis import free_port
from tests.support.nooks import call_event
from tests.support.servers import running_app
from tests.support.service import Service

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
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 200 and "nooks_outreach_redis_up 0.0" in await response.text()


async def test_metrics_are_prometheus_text(svc: Service) -> None:
    await svc.post_event({"id": "evt_x", "type": "call.started", "data": {}})
    await svc.post_event(call_event())
    await svc.figures(events_ignored=1)  # counted in memory, written by the flusher within a quarter second
    async with svc.http.get(f"{svc.base_url}/metrics") as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = await response.text()
    assert 'nooks_outreach_total{outcome="events_ignored"} 1.0' in text
    assert "nooks_outreach_queue_depth" in text and "nooks_outreach_dead_letters" in text


async def test_the_grafana_dashboard_uses_only_metrics_that_are_served(svc: Service) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"nooks_outreach_[a-z_]+", target["expr"])}
    async with svc.http.get(f"{svc.base_url}/metrics") as response:
        text = await response.text()
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("nooks_outreach_")}
    # A family is served from its first scrape, before it has samples.
    for name, kind in re.findall(r"^# TYPE (\S+) (counter|histogram)$", text, re.MULTILINE):
        served |= {name} if kind == "counter" else {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    assert used and used <= served, used - served
