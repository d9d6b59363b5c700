"""Operators' probes: liveness, readiness (Redis reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from ingress.auth import metrics_reader
from ingress.errors import ApiError
from ingress.ops.guard import refused
from ingress.responses import JSON
from runtime.services import Services
from store.telemetry import BUCKETS, EVENT_TO_OUTREACH, OUTREACH_REQUEST, HistogramSeries

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# /readyz answers within 1 s whatever state Redis is in (a probe's own timeout is often 1 s). A Redis
# that accepts connections but does not answer (stopped, loading between chunks of its file) would otherwise hold
# the probe for the socket timeout and the retry.
READY_WITHIN_SECONDS = 0.8


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.state.services
    try:
        async with asyncio.timeout(READY_WITHIN_SECONDS):
            await services.redis.ping()
    except TimeoutError:
        return JSON({"status": "unavailable", "redis": "unresponsive"}, status_code=503)
    except (RedisError, OSError):
        return JSON({"status": "unavailable", "redis": "unreachable"}, status_code=503)
    return JSON({"status": "ready", "redis": "ok"})


class _Snapshot(Collector):
    """Shared counters, queue gauges and histograms, read from Redis for this scrape (every process sees the same):
    counts only (HLEN, ZCARD, ...), never the lists themselves."""

    def __init__(self, counters: dict[str, int], gauges: dict[str, int], ingest: dict[str, int],
                 histograms: dict[str, list[HistogramSeries]]) -> None:
        self._counters = counters
        self._gauges = gauges
        self._ingest = ingest
        self._histograms = histograms

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily("nooks_outreach_total", "Events and calls by outcome (all processes)",
                                     labels=["outcome"])
        for name, value in sorted(self._counters.items()):
            events.add_metric([name], value)
        yield events
        ingest = CounterMetricFamily("nooks_outreach_ingest_total", "Deliveries by source and outcome",
                                     labels=["source", "outcome"])
        for name, value in sorted(self._ingest.items()):
            _, source, outcome = name.split(":", 2)
            ingest.add_metric([source, outcome], value)
        yield ingest
        for name, value in sorted(self._gauges.items()):
            yield GaugeMetricFamily(f"nooks_outreach_{name}", f"Current {name.replace('_', ' ')}", value=value)
        yield _histogram(EVENT_TO_OUTREACH, "Time from an event queued to its call logged in Outreach", [],
                         self._histograms.get(EVENT_TO_OUTREACH, []))
        yield _histogram(OUTREACH_REQUEST, "Outreach request latency by operation and status",
                         ["operation", "status"], self._histograms.get(OUTREACH_REQUEST, []))


def _histogram(name: str, documentation: str, labels: list[str], series: list[HistogramSeries]) -> Metric:
    family = HistogramMetricFamily(f"nooks_outreach_{name}", documentation, labels=labels)
    bounds = [*(str(bound) for bound in BUCKETS[name]), "+Inf"]
    for one in series:
        cumulative, buckets = 0, []
        for bound, amount in zip(bounds, one.buckets, strict=True):
            cumulative += amount
            buckets.append((bound, cumulative))
        family.add_metric(list(one.labels) if labels else [], buckets, one.total)
    return family


async def metrics(request: Request) -> Response:
    services: Services = request.state.services
    if not metrics_reader(request, services.settings):
        refused(request, 401, "unauthorized")
        raise ApiError(401, "unauthorized", "operator credentials or the METRICS_TOKEN bearer required",
                       headers={"WWW-Authenticate": 'Basic realm="ops", charset="UTF-8"'})
    try:
        counters = await services.ops.telemetry.totals()
        gauges = {
            "queue_depth": await services.stores.queue.depth(),
            "dead_letters": await services.stores.dead_letters.count(),
            "flagged": await services.stores.dead_letters.flag_count(),
            "parked_reps": (await services.stores.parking.figures())[1],
            "retries_waiting": await services.ops.retries.count(),
            "redis_up": 1,
        }
        telemetry = services.ops.telemetry
        ingest = await telemetry.ingest_totals()
        histograms = {name: await telemetry.histogram(name) for name in (EVENT_TO_OUTREACH, OUTREACH_REQUEST)}
    except (RedisError, OSError):
        counters, gauges, ingest, histograms = {}, {"redis_up": 0}, {}, {}
    registry = CollectorRegistry()
    registry.register(_Snapshot(counters, gauges, ingest, histograms))
    return Response(generate_latest(registry) + generate_latest(REGISTRY), media_type=CONTENT_TYPE)
