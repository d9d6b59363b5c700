"""Who may see and act on /ops: HTTP Basic (operators, and optional read-only operators), and no state change
from another site, whatever credentials ride along. Every /ops answer also refuses to be framed or cached."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingress.auth import basic_user, operator_accounts
from ingress.errors import ApiError
from ingress.guards import Handler
from schemas.settings import Settings

log = logging.getLogger("ops.guard")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def operator(request: Request) -> str:
    """The operator's name, as the guard admitted them."""
    return str(request.scope["ops_operator"])


def cross_site(request: Request, public_base_url: str) -> bool:
    """A browser sent this from another site: its Origin is not ours, or it says so in Sec-Fetch-Site."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not a browser's cross-origin request (curl, scripts): credentials decide
    ours = {_origin(public_base_url), _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")}
    return _origin(origin) not in ours


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        return "invalid"
    return f"{parts.scheme}://{parts.hostname}:{port}"


def refused(request: Request, status: int, reason: str, who: str | None = None) -> None:
    """Every refusal is logged (who, when it is known; never what credentials were tried)."""
    client = request.client.host if request.client else "-"
    log.warning("refused status=%d reason=%s who=%s method=%s path=%.200r client=%s", status, reason, who or "-",
                request.method, request.url.path, client)


def operators_only(handler: Handler) -> Handler:
    """404 while /ops has no credentials configured; 401 without valid ones; for a state-changing request,
    403 when it comes from another site or from a read-only operator."""

    async def guarded(request: Request) -> Response:
        settings: Settings = request.state.services.settings
        configured = operator_accounts(settings)
        if not settings.ops_enabled:
            raise ApiError(404, "not_found", "not found")
        acting = request.method not in SAFE_METHODS
        if acting and cross_site(request, settings.public_base_url):
            refused(request, 403, "cross_site")
            raise ApiError(403, "cross_site", "operator actions are only taken from this service's own pages")
        admitted = basic_user(request, configured)
        if admitted is None:
            refused(request, 401, "unauthorized")
            raise ApiError(401, "unauthorized", "operator credentials required",
                           headers={"WWW-Authenticate": 'Basic realm="ops", charset="UTF-8"'})
        name, may_act = admitted
        if acting and not may_act:
            refused(request, 403, "read_only", name)
            raise ApiError(403, "read_only", "these credentials can see /ops but not act on it")
        request.scope["ops_operator"] = name
        request.scope["ops_may_act"] = may_act
        return await handler(request)

    return guarded


class SecurityHeaders:
    """Adds HEADERS to every /ops answer (pages, JSON and static files alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
