"""Each rep's Outreach rate budget (10,000 requests/hour/user), as Outreach reports it in headers.

Requests wait here instead of earning a 429: when the last reported `X-RateLimit-Remaining` (less what this
process has in flight since) reaches the reserve, a request sleeps until `X-RateLimit-Reset` if that is
close, or raises RateLimited so the job is deferred rather than holding a worker slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from outreach.errors import RateLimited

MAX_INLINE_WAIT_SECONDS = 2.0
UNKNOWN_BUDGET_IN_FLIGHT = 8  # per rep and process, before the first X-RateLimit headers arrive
UNKNOWN_BUDGET_POLL_SECONDS = 0.02


@dataclass
class _Window:
    remaining: int | None = None
    reset_at: float = 0.0
    in_flight: int = 0
    limit: int | None = None
    held_until: float = 0.0  # after a 429: Outreach's Retry-After, whatever the window says


class RateBudget:
    def __init__(self, reserve: int = 0) -> None:
        self._reserve = reserve
        self._windows: dict[str, _Window] = {}

    async def acquire(self, rep: str) -> None:
        window = self._windows.setdefault(rep, _Window())
        while True:
            held = window.held_until - time.time()
            if held > 0:
                if held > MAX_INLINE_WAIT_SECONDS:
                    raise RateLimited(held)
                await asyncio.sleep(held)
                continue
            if window.remaining is not None and time.time() >= window.reset_at:
                # A new window, as large as the last one Outreach announced (unknown if it never said).
                window.remaining = window.limit
            if window.remaining is None:
                # Until Outreach reports the budget, a few requests find it out; a burst here earned 429s.
                if window.in_flight < UNKNOWN_BUDGET_IN_FLIGHT:
                    break
                await asyncio.sleep(UNKNOWN_BUDGET_POLL_SECONDS)
                continue
            if window.remaining - window.in_flight > self._reserve:
                break
            wait = window.reset_at - time.time()
            if wait > MAX_INLINE_WAIT_SECONDS:
                raise RateLimited(wait)
            await asyncio.sleep(max(wait, 0.001))
        window.in_flight += 1

    def release(self, rep: str, headers: Mapping[str, str] | None) -> None:
        window = self._windows.setdefault(rep, _Window())
        window.in_flight = max(window.in_flight - 1, 0)
        if headers is None:
            return
        remaining, reset = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset")
        try:
            if remaining is not None:
                window.remaining = int(remaining)
            if reset is not None:
                value = float(reset)
                # Documented as epoch seconds; a small number can only be "seconds from now".
                window.reset_at = value if value > 1e9 else time.time() + value
            if (limit := headers.get("X-RateLimit-Limit")) is not None:
                window.limit = int(limit)
        except ValueError:
            pass  # a malformed header must not break the call

    def exhausted(self, rep: str, retry_after: float) -> None:
        """A 429 reached us anyway: hold every request of this rep until Outreach's `Retry-After`.

        Only that long: the hourly window's reset may be most of an hour away, and a 429 can come from a burst
        or a token mint while the hour's budget is far from spent (the headers, applied as usual, say if it is).
        """
        window = self._windows.setdefault(rep, _Window())
        window.held_until = max(window.held_until, time.time() + retry_after)

    def windows(self) -> dict[str, tuple[int | None, float, int | None]]:
        """rep → (remaining, reset at, limit) as Outreach last reported them to this process, for windows not yet
        reset (a rep this process served an hour ago says nothing about now: /ops must not show it as current)."""
        now = time.time()
        return {rep: (w.remaining, w.reset_at, w.limit) for rep, w in self._windows.items()
                if w.remaining is not None and not 0 < w.reset_at <= now}

    def snapshot(self, rep: str) -> tuple[int | None, float]:
        window = self._windows.get(rep, _Window())
        return window.remaining, window.reset_at
