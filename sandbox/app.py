"""`create_app()`: the Outreach double as one Starlette application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from . import api, control, oauth, seed
from .audit import Audit, AuditMiddleware
from .core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Sandbox
from .faults import FaultMiddleware, connection_aborter
from .guard import ApiGuard
from .observe import RequestLogMiddleware


class SandboxApp(Starlette):
    sandbox: Sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only here is `send` still the server's own callable, through which a connection can be dropped.
        if scope["type"] == "http" and (abort := connection_aborter(send)) is not None:
            scope["sandbox.abort"] = abort
        await super().__call__(scope, receive, send)


def create_app(
    *,
    seed_demo: bool = True,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    knobs: dict[str, Any] | None = None,
    freeze_gc: bool = False,
    audit: bool = False,
) -> SandboxApp:
    """`audit`: record every /api/v2 exchange for checks against Outreach's contract (`sandbox.audit`)."""
    sandbox = Sandbox(client_id, client_secret, freeze_gc)
    sandbox.audit = Audit() if audit else None
    if seed_demo:
        seed.seed_demo(sandbox.store)
    if knobs:
        sandbox.knobs.update(knobs)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await sandbox.deliveries.start()
        try:
            yield
        finally:
            await sandbox.drop_added_orgs()
            await sandbox.deliveries.stop()

    app = SandboxApp(
        routes=[
            Mount("/api/v2", app=ApiGuard(api.router, sandbox.tokens, sandbox.limiter)),
            Mount("/oauth", routes=oauth.routes),
            Mount("/_sandbox", routes=control.routes),
        ],
        middleware=[
            Middleware(RequestLogMiddleware, log=sandbox.requests),
            Middleware(AuditMiddleware, audit=sandbox.audit),
            Middleware(FaultMiddleware, knobs=sandbox.knobs),
        ],
        exception_handlers={control.ControlError: control.control_error},
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.sandbox = sandbox
    return app
