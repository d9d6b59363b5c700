"""Every fault and behaviour knob, settable from Python or through `POST /_sandbox/faults` (merged)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FailRule:
    """A one-shot failure for matching requests; `path` may use shell wildcards (`/api/v2/tasks/*`)."""

    path: str
    method: str = "*"
    status: int = 503
    count: int = 1
    retry_after: int | None = None
    after_effect: bool = False  # perform the request, then fail the answer
    drop: bool = False  # close the connection instead of answering


@dataclass
class Knobs:
    latency_ms: float = 0.0
    latency_by_prefix: dict[str, float] = field(default_factory=dict)
    error_rate: float = 0.0
    drop_connection_rate: float = 0.0
    slow_rate: float = 0.0  # this share of requests waits slow_ms more
    slow_ms: float = 0.0
    fail_next: list[FailRule] = field(default_factory=list)
    rate_limit: int = 10_000
    rate_window_s: int = 3600
    token_lifetime_s: int = 7200
    # How long a refresh token is honoured after it was issued (Outreach: about 14 days); a refresh issues a new one.
    refresh_token_lifetime_s: float = 14 * 86400
    omit_refresh_token: bool = False
    token_mint_limit_per_minute: int | None = None  # None: never 429 on /oauth/token
    drop_next_deliveries: int = 0
    delivery_drop_rate: float = 0.0
    delivery_timeout_s: float = 5.0
    delivery_retries: int = 3
    delivery_retry_delay_s: float = 1.0

    def update(self, changes: dict[str, Any]) -> None:
        """Merge changes; unknown names or wrong types raise ValueError (the control API answers 400)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown knobs: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            if name == "fail_next":
                if not isinstance(value, list):
                    raise ValueError("fail_next must be a list of rules")
                try:
                    value = [FailRule(**rule) for rule in value]
                except TypeError as exc:
                    raise ValueError(f"bad fail_next rule: {exc}") from None
            elif name == "latency_by_prefix":
                if not isinstance(value, dict):
                    raise ValueError("latency_by_prefix must be an object")
            elif value is not None and not isinstance(value, int | float):  # bools are ints too
                raise ValueError(f"{name} must be a number or boolean")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
