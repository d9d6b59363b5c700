"""The sandbox's whole state in one object: records, tokens, knobs, limits and logs."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request

from .audit import Audit
from .knobs import Knobs
from .observe import RequestLog
from .ratelimit import RateLimiter
from .state import Store
from .tokens import Tokens
from .visibility import Visibility
from .webhooks import Deliveries

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
ORG_ID = "5b0a3c1e-7f42-4d8e-9a6b-2c1d0e9f8a71"


class Sandbox:
    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 freeze_gc: bool = False) -> None:
        # Only in a process of its own (`python -m sandbox`): seeding then moves the org out of the GC's way
        # (gc.freeze is process-wide, so not inside a test process).
        self.freeze_gc = freeze_gc
        self.knobs = Knobs()
        self.store = Store()
        self.tokens = Tokens(self.knobs, {client_id: client_secret})
        self.limiter = RateLimiter(self.knobs)
        self.requests = RequestLog()
        self.visibility = Visibility()
        self.deliveries = Deliveries(self.store, self.knobs, ORG_ID, self.visibility)
        self.audit: Audit | None = None  # set by create_app(audit=True)

    def reset(self) -> None:
        """Empty state and default knobs (in place: other parts hold the same Knobs object)."""
        defaults = Knobs()
        for f in dataclasses.fields(Knobs):
            setattr(self.knobs, f.name, getattr(defaults, f.name))
        self.store.clear()
        self.tokens.clear()
        self.limiter.windows.clear()
        self.requests.clear()
        self.deliveries.log.clear()
        self.visibility.clear()

    def state(self) -> dict[str, Any]:
        return {
            "knobs": self.knobs.as_dict(),
            "request_counts": dict(self.requests.counts),
            "refusals": dict(self.requests.refusals),
            "token_mints": {str(u): n for u, n in self.tokens.mints.items()},
            "rate_limit_usage": self.limiter.usage(),
            "records": {t: len(rs) for t, rs in self.store.records.items()},
            "pending_deliveries": self.deliveries.pending,
            "login": dict(self.tokens.login),
            "org_id": ORG_ID,
            "own_records_only": sorted(self.visibility.own_only),
        }


def of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox
