"""Bearer auth, OAuth scopes and the per-user rate limit for everything under /api/v2."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .jsonapi import ApiError
from .ratelimit import RateLimiter
from .schema import BY_PLURAL
from .tokens import Tokens

_RESOURCE = re.compile(r"/api/v2/([^/?]+)")
_NEEDS = {"GET": "read", "HEAD": "read", "DELETE": "delete"}


class ApiGuard:
    def __init__(self, app: ASGIApp, tokens: Tokens, limiter: RateLimiter) -> None:
        self.app, self.tokens, self.limiter = app, tokens, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = Headers(scope=scope).get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        grant = self.tokens.user_of(token) if token else None
        if grant is None:
            await PlainTextResponse("Invalid access token", 401)(scope, receive, send)
            return
        ctx: dict[str, Any] = scope.get("sandbox.ctx", {})
        ctx["user_id"] = scope["sandbox.user_id"] = grant.user_id
        scope["sandbox.org"] = grant.org
        verdict = self.limiter.hit(grant.user_id)
        extra = [(k.lower().encode(), v.encode()) for k, v in verdict.headers().items()]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            if not verdict.allowed:
                raise ApiError(
                    429,
                    "rateLimitExceeded",
                    "Rate Limit Exceeded",
                    f"You have exceeded your permitted rate limit of {verdict.limit}; please try again later.",
                    headers={"Retry-After": str(verdict.retry_after())},
                )
            self._check_scope(scope, grant.scope.split())
            await self.app(scope, receive, with_headers)
        except ApiError as exc:
            await exc.response()(scope, receive, with_headers)

    @staticmethod
    def _check_scope(scope: Scope, granted: list[str]) -> None:
        m = _RESOURCE.match(scope["path"])
        if m is None or m.group(1) not in BY_PLURAL:
            return  # the router answers 404
        resource = m.group(1)
        need = _NEEDS.get(scope["method"], "write")
        if f"{resource}.all" not in granted and f"{resource}.{need}" not in granted:
            raise ApiError(
                403,
                "unauthorizedOauthScope",
                "Unauthorized OAuth Scope",
                f"Your token does not have the '{resource}.{need}' or '{resource}.all' scope.",
            )
