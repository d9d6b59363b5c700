"""Where every job decides to try again: backoff, attempt limits, and Outreach's 429 (`Retry-After`).

A job raises arq's `Retry(defer=…)` built here and nowhere else; once a policy's attempts are spent the job
gives up its own way (a dead letter, a failed notification). arq itself never drops a job (`max_tries` is
effectively unbounded in workers/settings.py): these policies are the only limits. Retrying a single Outreach
request quickly inside a job, before any of these, is decided where the request is made, in
outreach/quick_retry.py: only the client knows whether a request reached Outreach at all, web's just-in-time reads
use it too, and outreach/ may not import workers/.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from arq import Retry

from outreach.errors import RateLimited


def jitter() -> float:
    """A random fraction in [0, 1): spreads retries so jobs failed together do not return together."""
    return random.random()  # noqa: S311 (spreading retries, not a secret)


@dataclass(frozen=True)
class Policy:
    """Exponential backoff from `base_seconds` (doubling per attempt, ±20 %, at most `cap_seconds`) for up to
    `max_attempts` attempts."""

    max_attempts: int
    base_seconds: float
    cap_seconds: float = 300.0

    def backoff(self, attempt: int, hint: float | None = None, spread: float | None = None) -> float:
        """Seconds before attempt `attempt + 1`; never sooner than Outreach's `hint` (its Retry-After). `spread`:
        where in the ±20 % to land, 0 to 1 (random when not given)."""
        base = min(self.base_seconds * 2.0 ** (attempt - 1), self.cap_seconds)
        return max(base * (0.8 + 0.4 * (jitter() if spread is None else spread)), hint or 0.0)

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts

    def again(self, attempt: int, hint: float | None = None) -> Retry:
        return Retry(defer=self.backoff(attempt, hint))


LOG_CALL = Policy(max_attempts=12, base_seconds=2.0)  # about an hour before an operator is asked to look
NOTIFY = Policy(max_attempts=10, base_seconds=1.0)  # about 8 minutes
USER_REFRESH = Policy(max_attempts=8, base_seconds=1.0)
SUBSCRIPTION_SYNC = Policy(max_attempts=8, base_seconds=1.0)
RATE_LIMIT_SPREAD_SECONDS = 2.0
BUSY_SECONDS, BUSY_SPREAD_SECONDS = 1.0, 1.0  # another worker holds the call


def rate_limit_wait(retry_after: float, spread: float | None = None) -> float:
    """Outreach said 429 (or the rep's budget is spent): come back when Outreach said to, plus up to 2 s so the
    rep's jobs do not return all at once. No attempt limit: the wait is Outreach's, and it always ends."""
    return retry_after + RATE_LIMIT_SPREAD_SECONDS * (jitter() if spread is None else spread)


def after_rate_limit(limited: RateLimited) -> Retry:
    return Retry(defer=rate_limit_wait(limited.retry_after))


def shortly(seconds: float, spread: float) -> Retry:
    """Busy right now (another worker holds the call, a concurrency gate is full): try again in a moment."""
    return Retry(defer=seconds + spread * jitter())


def at(seconds: float) -> Retry:
    """The job runs again in `seconds` (a wait decided elsewhere from this module's policies)."""
    return Retry(defer=seconds)
