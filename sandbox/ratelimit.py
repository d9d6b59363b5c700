"""Per-user fixed-window request budget, as Outreach applies it to each user's token."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .knobs import Knobs


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }

    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - time.time()))


class RateLimiter:
    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.windows: dict[int, tuple[int, int]] = {}  # user id -> (window index, requests used)

    def hit(self, user_id: int) -> Verdict:
        limit, window = self.knobs.rate_limit, max(1, self.knobs.rate_window_s)
        index = int(time.time() // window)
        current, used = self.windows.get(user_id, (index, 0))
        if current != index:
            used = 0
        allowed = used < limit
        if allowed:
            used += 1
        self.windows[user_id] = (index, used)
        return Verdict(allowed, limit, max(0, limit - used), (index + 1) * window)

    def usage(self) -> dict[str, int]:
        index = int(time.time() // max(1, self.knobs.rate_window_s))
        return {str(u): used for u, (i, used) in self.windows.items() if i == index}
