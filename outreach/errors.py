"""What can go wrong talking to Outreach, with messages safe to store and log.

Messages carry status codes, Outreach error ids and JSON pointers (field names) only: never `detail` texts
or bodies, which can quote record values.
"""

from __future__ import annotations


class OutreachError(Exception):
    """Base class; `str()` is always safe to persist."""


class ReconnectRequired(OutreachError):
    """The rep's tokens are gone or refused: only the rep reconnecting helps."""


class NotConnected(OutreachError):
    """The rep never connected (or disconnected)."""


class RateLimited(OutreachError):
    """The rep's Outreach budget is spent; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Outreach rate limit reached; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class OutreachUnavailable(OutreachError):
    """5xx, timeouts, dropped connections: worth retrying later.

    `sent` is False only when the request certainly never reached Outreach (no connection could be made): then
    even a write may be sent again at once.
    """

    def __init__(self, reason: str, retry_after: float | None = None, *, sent: bool = True) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.sent = sent


class OutreachRejected(OutreachError):
    """A 4xx answer other than 401/429: retrying the same request will not help."""

    def __init__(self, status: int, error_id: str | None, pointer: str | None) -> None:
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"Outreach answered {status} {error_id or 'error'}{where}")
        self.status = status
        self.error_id = error_id
        self.pointer = pointer


class NotFound(OutreachRejected):
    """404: the record does not exist or the rep may not read it."""


class ListTruncated(OutreachError):
    """A collection had more pages than the read allows: acting on part of it would be wrong (e.g. taking
    subscriptions or calls that are there for missing)."""


class OAuthRefused(OutreachError):
    """The token endpoint refused a code or refresh token (`invalid_grant` and friends)."""
