"""The one figure system, shared by every process: counts (per minute, per hour and in total since the start) for
/ops charts and /metrics, and histograms.

Hot paths only touch memory: `count` and `observe` add to a buffer that `drain_into` writes to Redis in one
pipeline (runtime/flusher.py, four times a second). A process that dies loses at most that quarter second of
figures; what must be exact is the state itself (the queue, dead letters, parked events), counted from Redis.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from store import keys

MINUTE_TTL_SECONDS = 2 * 3600
HOUR_TTL_SECONDS = 26 * 3600
# Upper bounds (seconds) of the histogram buckets; +Inf is implied.
EVENT_TO_OUTREACH_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
OUTREACH_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
EVENT_TO_OUTREACH = "event_to_outreach_seconds"
OUTREACH_REQUEST = "outreach_request_seconds"
BUCKETS = {EVENT_TO_OUTREACH: EVENT_TO_OUTREACH_BUCKETS, OUTREACH_REQUEST: OUTREACH_REQUEST_BUCKETS}
LATENCY_FIELD = "e2o:"  # minute-series fields "e2o:<bucket index>" feed the overview's p50/p95
LABEL_SEPARATOR = "|"
INGEST_PREFIX = "ingest:"  # series "ingest:<source>:<outcome>" are also kept as totals since the start


def bucket_index(bounds: tuple[float, ...], seconds: float) -> int:
    """Index of the first bucket whose bound holds `seconds` (len(bounds) = +Inf)."""
    return bisect.bisect_left(bounds, seconds)


@dataclass(frozen=True)
class HistogramSeries:
    labels: tuple[str, ...]
    buckets: list[int]  # per bucket (not cumulative), the last one is +Inf
    total: float
    count: int


class Telemetry:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._counts: Counter[tuple[int, str]] = Counter()  # (epoch minute, series) → n
        self._hist: dict[str, Counter[str]] = defaultdict(Counter)
        self._hist_sums: dict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._last_call: dict[str, int] = {}

    # --- recording (memory only) ----------------------------------------------------------------------------
    def count(self, series: str, amount: int = 1) -> None:
        self._counts[(int(time.time() // 60), series)] += amount

    def observe(self, name: str, seconds: float, labels: tuple[str, ...] = ()) -> None:
        bounds = BUCKETS[name]
        index = bucket_index(bounds, seconds)
        label = LABEL_SEPARATOR.join(labels)
        self._hist[name][f"{label}{LABEL_SEPARATOR}{index}"] += 1
        self._hist[name][f"{label}{LABEL_SEPARATOR}count"] += 1
        self._hist_sums[name][f"{label}{LABEL_SEPARATOR}sum"] += seconds
        if name == EVENT_TO_OUTREACH:
            self.count(f"{LATENCY_FIELD}{index}")

    def call_logged(self, team_id: str, rep_email: str) -> None:
        self._last_call[keys.rep_member(team_id, rep_email)] = int(time.time())

    def pending(self) -> bool:
        return bool(self._counts or self._hist or self._last_call)

    def drain_into(self, pipe: Pipeline) -> None:
        counts, self._counts = self._counts, Counter()
        hist, self._hist = self._hist, defaultdict(Counter)
        sums, self._hist_sums = self._hist_sums, defaultdict(lambda: defaultdict(float))
        last_call, self._last_call = self._last_call, {}
        minutes: set[int] = set()
        for (minute, series), amount in counts.items():
            minutes.add(minute)
            pipe.hincrby(keys.minute_series(minute), series, amount)
            pipe.hincrby(keys.hour_series(minute // 60), series, amount)
            if series.startswith(INGEST_PREFIX):
                pipe.hincrby(keys.INGEST_TOTALS, series, amount)
            elif not series.startswith(LATENCY_FIELD):
                pipe.hincrby(keys.STATS, series, amount)
        for minute in minutes:
            pipe.expire(keys.minute_series(minute), MINUTE_TTL_SECONDS)
            pipe.expire(keys.hour_series(minute // 60), HOUR_TTL_SECONDS)
        for name, fields in hist.items():
            for field, amount in fields.items():
                pipe.hincrby(keys.histogram(name), field, amount)
        for name, totals in sums.items():
            for field, value in totals.items():
                pipe.hincrbyfloat(keys.histogram(name), field, value)
        if last_call:
            pipe.hset(keys.LAST_CALL, mapping=last_call)

    # --- reading ---------------------------------------------------------------------------------------------
    async def minutes(self, how_many: int = 60) -> list[tuple[int, dict[str, int]]]:
        """The last `how_many` minutes, oldest first: (epoch minute, series → count)."""
        now = int(time.time() // 60)
        return await self._series([now - i for i in range(how_many - 1, -1, -1)], keys.minute_series)

    async def hours(self, how_many: int = 24) -> list[tuple[int, dict[str, int]]]:
        now = int(time.time() // 3600)
        return await self._series([now - i for i in range(how_many - 1, -1, -1)], keys.hour_series)

    async def _series(self, slots: list[int], key: object) -> list[tuple[int, dict[str, int]]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for slot in slots:
                pipe.hgetall(key(slot))  # type: ignore[operator]
            replies = await pipe.execute()
        return [(slot, {k.decode(): int(v) for k, v in raw.items()}) for slot, raw in zip(slots, replies, strict=True)]

    async def histogram(self, name: str) -> list[HistogramSeries]:
        raw = await self._redis.hgetall(keys.histogram(name))
        size = len(BUCKETS[name]) + 1
        by_label: dict[str, HistogramSeries] = {}
        for field_raw, value in raw.items():
            label, _, part = field_raw.decode().rpartition(LABEL_SEPARATOR)
            series = by_label.setdefault(label, HistogramSeries(tuple(label.split(LABEL_SEPARATOR)) if label else (),
                                                                [0] * size, 0.0, 0))
            if part == "sum":
                by_label[label] = HistogramSeries(series.labels, series.buckets, float(value), series.count)
            elif part == "count":
                by_label[label] = HistogramSeries(series.labels, series.buckets, series.total, int(value))
            elif part.isdigit() and int(part) < size:
                series.buckets[int(part)] = int(value)
        return [by_label[label] for label in sorted(by_label)]

    async def totals(self) -> dict[str, int]:
        """Every count since the start (ingest outcomes apart: `ingest_totals`)."""
        raw = await self._redis.hgetall(keys.STATS)
        return {k.decode(): int(v) for k, v in raw.items()}

    async def ingest_totals(self) -> dict[str, int]:
        raw = await self._redis.hgetall(keys.INGEST_TOTALS)
        return {k.decode(): int(v) for k, v in raw.items()}

    async def last_calls(self, members: list[str]) -> dict[str, int]:
        if not members:
            return {}
        values = await self._redis.hmget(keys.LAST_CALL, members)
        return {m: int(v) for m, v in zip(members, values, strict=True) if v is not None}


def percentile(bounds: tuple[float, ...], buckets: list[int], fraction: float) -> float | None:
    """The bucket bound below which `fraction` of observations fall (None without observations); +Inf reads as
    the last finite bound, since the true value is only known to be above it."""
    total = sum(buckets)
    if total == 0:
        return None
    wanted, seen = fraction * total, 0
    for index, amount in enumerate(buckets):
        seen += amount
        if seen >= wanted:
            return bounds[min(index, len(bounds) - 1)]
    return bounds[-1]


def latency_buckets(minutes: list[tuple[int, dict[str, int]]]) -> list[int]:
    """Event-to-Outreach bucket counts summed over the given minutes."""
    size = len(EVENT_TO_OUTREACH_BUCKETS) + 1
    totals = [0] * size
    for _, series in minutes:
        for index in range(size):
            totals[index] += series.get(f"{LATENCY_FIELD}{index}", 0)
    return totals
