"""Timestamps as Outreach writes them and as the service compares them: one parser, one format."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 date-time (`Z` or an offset; none means UTC) as UTC, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return aware.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00: no instant in datetime's range, so no date-time
        return None


def outreach_time(moment: datetime) -> str:
    """The form Outreach writes and filters on: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def normalize_timestamp(value: str) -> str:
    """The same instant written two ways (`Z`, `+00:00`, other offsets) gives the same string; text that is no
    date-time comes back as it was."""
    parsed = parse_time(value)
    return outreach_time(parsed) if parsed is not None else value


def format_time(value: object) -> str | None:
    """For the dialer: UTC with `Z`, milliseconds only when there are any; text that is no date-time as is."""
    parsed = parse_time(value)
    if parsed is None:
        return (value.strip() or None) if isinstance(value, str) else None
    utc = parsed.astimezone(UTC)
    text = utc.isoformat(timespec="milliseconds" if utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")
