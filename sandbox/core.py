"""The sandbox's whole state in one object: records, tokens, knobs, limits and logs.

Like Outreach it holds several orgs, each with its own records (user ids are small integers per org, so two orgs
share them), visibility rules and webhook deliveries; a token belongs to the org of the user who granted it, and
the API answers from that org only. The demo org is the default; tests add others through `/_sandbox/orgs`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
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


@dataclass
class Org:
    """One Outreach org: its records, who reads what, and its webhook deliveries."""

    id: str
    store: Store
    visibility: Visibility
    deliveries: Deliveries

    @classmethod
    def empty(cls, org_id: str, knobs: Knobs) -> Org:
        store, visibility = Store(), Visibility()
        return cls(org_id, store, visibility, Deliveries(store, knobs, org_id, visibility))


class Sandbox:
    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 freeze_gc: bool = False) -> None:
        # Only in a process of its own (`python -m sandbox`): seeding then moves the org out of the GC's way
        # (gc.freeze is process-wide, so not inside a test process).
        self.freeze_gc = freeze_gc
        self.knobs = Knobs()
        self.default = Org.empty(ORG_ID, self.knobs)
        self.orgs: dict[str, Org] = {ORG_ID: self.default}
        self.store, self.visibility, self.deliveries = self.default.store, self.default.visibility, \
            self.default.deliveries
        self.tokens = Tokens(self.knobs, {client_id: client_secret})
        self.limiter = RateLimiter(self.knobs)
        self.requests = RequestLog()
        self.audit: Audit | None = None  # set by create_app(audit=True)

    async def add_org(self, org_id: str) -> Org:
        """Another org, empty, delivering its webhooks from now on."""
        org = Org.empty(org_id, self.knobs)
        await org.deliveries.start()
        self.orgs[org_id] = org
        return org

    def org(self, org_id: str | None) -> Org:
        """The org of that id (the default one for None or "")."""
        return self.orgs[org_id] if org_id else self.default

    async def drop_added_orgs(self) -> None:
        for org_id in [o for o in self.orgs if o != ORG_ID]:
            await self.orgs.pop(org_id).deliveries.stop()

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
            "orgs": sorted(self.orgs),
            "own_records_only": sorted(self.visibility.own_only),
        }


def of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def org_of(request: Request) -> Org:
    """The org of the token that authorised this /api/v2 request."""
    return of(request).org(request.scope.get("sandbox.org"))
