"""Operators' probes: liveness, readiness (Redis reachable) and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from ingress.responses import JSON
from runtime.services import Services
from store.queue import stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.state.services
    try:
        await services.redis.ping()
    except (RedisError, OSError):
        return JSON({"status": "unavailable", "redis": "unreachable"}, status_code=503)
    return JSON({"status": "ready", "redis": "ok"})


class _Snapshot(Collector):
    """Shared counters and queue gauges, read from Redis for this scrape (every process sees the same)."""

    def __init__(self, counters: dict[str, int], gauges: dict[str, int]) -> None:
        self._counters = counters
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily("nooks_outreach_total", "Events and calls by outcome (all processes)",
                                     labels=["outcome"])
        for name, value in sorted(self._counters.items()):
            events.add_metric([name], value)
        yield events
        for name, value in sorted(self._gauges.items()):
            yield GaugeMetricFamily(f"nooks_outreach_{name}", f"Current {name.replace('_', ' ')}", value=value)


async def metrics(request: Request) -> Response:
    services: Services = request.state.services
    try:
        counters = await stats(services.redis)
        gauges = {
            "queue_depth": await services.queue.depth(),
            "dead_letters": len(await services.dead_letters.all()),
            "parked_reps": len(await services.parking.parked_reps()),
        }
    except (RedisError, OSError):
        counters, gauges = {}, {"redis_up": 0}
    registry = CollectorRegistry()
    registry.register(_Snapshot(counters, gauges))
    return Response(generate_latest(registry) + generate_latest(REGISTRY), media_type=CONTENT_TYPE)
