"""Figures buffered in memory reach Redis in one pipeline and read back as series and histograms."""

from __future__ import annotations

from redis.asyncio import Redis

from store.telemetry import (
    EVENT_TO_OUTREACH,
    EVENT_TO_OUTREACH_BUCKETS,
    OUTREACH_REQUEST,
    Telemetry,
    bucket_index,
    latency_buckets,
    percentile,
)


def test_buckets_and_percentiles() -> None:
    assert bucket_index((0.5, 1.0), 0.5) == 0 and bucket_index((0.5, 1.0), 0.7) == 1
    assert bucket_index((0.5, 1.0), 9.0) == 2  # +Inf
    assert percentile((0.5, 1.0), [0, 0, 0], 0.5) is None
    assert percentile((0.5, 1.0), [9, 1, 0], 0.5) == 0.5
    assert percentile((0.5, 1.0), [9, 1, 0], 0.95) == 1.0
    assert percentile((0.5, 1.0), [0, 0, 4], 0.5) == 1.0  # above the last bound: "at most" that bound is unknown


async def test_counts_and_histograms_round_trip_through_redis(redis: Redis) -> None:
    telemetry = Telemetry(redis)
    telemetry.count("calls_logged", 3)
    telemetry.count("ingest:nooks:accepted")
    telemetry.observe(EVENT_TO_OUTREACH, 0.3)
    telemetry.observe(EVENT_TO_OUTREACH, 4000.0)
    telemetry.observe(OUTREACH_REQUEST, 0.2, ("POST /calls", "201"))
    assert telemetry.pending()
    async with redis.pipeline(transaction=False) as pipe:
        telemetry.drain_into(pipe)
        await pipe.execute()
    assert not telemetry.pending()
    minutes = await telemetry.minutes(2)
    assert minutes[-1][1]["calls_logged"] == 3 and minutes[0][1] == {}
    assert (await telemetry.hours(1))[0][1]["calls_logged"] == 3
    assert await telemetry.ingest_totals() == {"ingest:nooks:accepted": 1}
    buckets = latency_buckets(minutes)
    assert sum(buckets) == 2 and buckets[1] == 1 and buckets[-1] == 1
    assert percentile(EVENT_TO_OUTREACH_BUCKETS, buckets, 0.5) == 0.5
    [event] = await telemetry.histogram(EVENT_TO_OUTREACH)
    assert (event.labels, event.count, round(event.total, 1)) == ((), 2, 4000.3)
    [request] = await telemetry.histogram(OUTREACH_REQUEST)
    assert request.labels == ("POST /calls", "201") and request.count == 1 and request.buckets[3] == 1
