"""Quick retries of one Outreach request, before a job falls back to its backoff (minutes).

Outreach's blips are short: a 502, a dropped connection, a 429 whose `Retry-After` is a second. A few jittered
tries within about two seconds land most calls at once instead of a job backoff later. What may be repeated:

- a request that never reached Outreach (the connection failed before it was sent): always;
- a read, or any answer that says nothing was done (5xx, 429, a dropped connection): when the request is
  idempotent (GET, DELETE);
- a write that may have been done (5xx or a dropped connection after sending): only with a done-check, which asks
  Outreach whether it was done before sending it again (`RepSession.write_once`; the call pipeline's steps pass
  theirs: `POST /calls` looks for the call's `vendorCallId`, markComplete reads the task's state).

This is the only place a single request is tried again: each request is wrapped once, by the client.

Every try goes through the rep's rate budget (outreach/budget.py), so quick retries never overspend it, and a
`Retry-After` longer than the quick window leaves the wait to the job.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from outreach.errors import OutreachUnavailable, RateLimited

T = TypeVar("T")

# Waits before the 2nd, 3rd and 4th try, each jittered by ±50 %; no try starts after WINDOW_SECONDS (so a request
# that timed out, 15 s, is not tried again here: the job's backoff takes over).
DELAYS_SECONDS = (0.1, 0.3, 0.9)
WINDOW_SECONDS = 2.5


def wait_before_retry(error: Exception, *, idempotent: bool) -> float | None:
    """The least wait before trying again, or None when trying again is not safe or not useful."""
    if isinstance(error, RateLimited):
        return error.retry_after
    if isinstance(error, OutreachUnavailable) and (idempotent or not error.sent):
        return error.retry_after or 0.0
    return None


async def retried(attempt: Callable[[], Awaitable[T]], *, idempotent: bool,
                  done: Callable[[], Awaitable[T | None]] | None = None) -> T:
    """`attempt()`, tried again quickly on failures `wait_before_retry` allows.

    With `done`, `attempt` is a write that must happen once: after a failure that leaves it unknown whether Outreach
    did it (sent, answer lost), `done()` (its result when it was done, else None) is asked before writing again;
    a 429 or a request never sent did nothing, and is sent again without asking.
    """
    started = time.monotonic()
    for delay in (*DELAYS_SECONDS, None):
        try:
            return await attempt()
        except (OutreachUnavailable, RateLimited) as error:
            least = wait_before_retry(error, idempotent=idempotent or done is not None)
            if delay is None or least is None:
                raise
            await _pause(started, max(_jittered(delay), least), error)
            if done is not None and isinstance(error, OutreachUnavailable) and error.sent:
                found = await done()
                if found is not None:
                    return found
    raise AssertionError("unreachable: the last try returns or raises")


def _jittered(delay: float) -> float:
    return delay * random.uniform(0.5, 1.5)  # noqa: S311 - spreading retries, not crypto


async def _pause(started: float, wait: float, error: Exception) -> None:
    if time.monotonic() - started + wait > WINDOW_SECONDS:
        raise error
    await asyncio.sleep(wait)
