"""One time module for every path: the dialer's format, Outreach's filter format, and change keys' form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from schemas.times import format_time, normalize_timestamp, outreach_time, parse_time


def test_format_time_for_the_dialer() -> None:
    assert format_time("2026-11-29T12:00:00.000Z") == "2026-11-29T12:00:00Z"
    assert format_time("2026-11-29T12:00:00.250Z") == "2026-11-29T12:00:00.250Z"
    assert format_time("2026-11-29T07:00:00-05:00") == "2026-11-29T12:00:00Z"
    assert format_time("2026-11-29T12:00:00") == "2026-11-29T12:00:00Z"
    assert format_time("not a time") == "not a time"
    assert format_time(None) is None and format_time(5) is None and format_time("  ") is None


def test_outreach_time_is_utc_milliseconds() -> None:
    moment = datetime(2026, 11, 29, 7, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    assert outreach_time(moment) == "2026-11-29T12:00:00.123Z"


def test_one_instant_written_three_ways_normalizes_to_one_string() -> None:
    forms = ("2026-11-29T12:00:00.5Z", "2026-11-29T12:00:00.500+00:00", "2026-11-29T07:00:00.500-05:00")
    assert {normalize_timestamp(form) for form in forms} == {"2026-11-29T12:00:00.500Z"}
    assert normalize_timestamp("yesterday") == "yesterday"


def test_a_date_time_outside_datetimes_range_reads_as_none() -> None:
    for moment in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"):
        assert parse_time(moment) is None
        assert normalize_timestamp(moment) == moment and format_time(moment) == moment


def test_parse_time() -> None:
    assert parse_time("2026-11-29T12:00:00Z") == datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert parse_time("2026-11-29T12:00:00") == datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert parse_time("") is None and parse_time(None) is None and parse_time("soon") is None
