"""Timestamps as Outreach writes them: UTC, millisecond precision, `Z` suffix."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


def now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(now())


@lru_cache(maxsize=65536)
def parse(value: str) -> datetime:
    """Parse an ISO 8601 timestamp or date; naive values are taken as UTC. Raises ValueError."""
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def delivered_at() -> str:
    """`meta.deliveredAt` carries an explicit offset (`-07:00` in recordings), not `Z`."""
    return now().isoformat(timespec="milliseconds")
