"""Fault injection in front of /api/v2 and /oauth: latency, random errors, one-shot rules, dropped connections."""

from __future__ import annotations

import asyncio
import fnmatch
import random
from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .jsonapi import ApiError
from .knobs import FailRule, Knobs
from .observe import OBSERVED

_ERRORS = {
    429: ("rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("internalServerError", "Internal Server Error"),
    502: ("badGateway", "Bad Gateway"),
    503: ("scheduledServerMaintenance", "Scheduled Server Maintenance"),
    504: ("gatewayTimeout", "Gateway Timeout"),
}


def fault_response(status: int, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if status == 401:  # what Outreach answers for a dead token
        return PlainTextResponse("Invalid access token", 401, headers=headers)
    id_, title = _ERRORS.get(status, ("sandboxFault", "Injected Fault"))
    return ApiError(status, id_, title, "Injected by the sandbox.", headers=headers).response()


def connection_aborter(send: Send) -> Callable[[], bool] | None:
    """Under uvicorn, `send` is bound to the request cycle, which holds the socket's transport."""
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return None

    def abort() -> bool:
        transport.close()
        cycle.disconnected = True  # stops uvicorn from writing its own 500 on the closed socket
        return True

    return abort


async def drop_connection(scope: Scope, send: Send) -> None:
    abort: Callable[[], bool] | None = scope.get("sandbox.abort")
    if abort is not None and abort():
        await asyncio.sleep(0)
        return
    # Fallback for other servers: promise a body, send a byte of it, then fail so the server cuts the stream.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("sandbox dropped the connection")


async def _discard(message: Message) -> None:
    return None


class FaultMiddleware:
    def __init__(self, app: ASGIApp, knobs: Knobs) -> None:
        self.app, self.knobs = app, knobs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(OBSERVED):
            await self.app(scope, receive, send)
            return
        knobs, ctx = self.knobs, scope.get("sandbox.ctx", {})
        delay = knobs.latency_ms + sum(ms for p, ms in knobs.latency_by_prefix.items() if path.startswith(p))
        if knobs.slow_rate and random.random() < knobs.slow_rate:  # noqa: S311 - fault injection, not crypto
            delay += knobs.slow_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        rule = self._take_rule(scope["method"], path)
        if rule is not None:
            ctx["fault"] = f"fail_next:{'drop' if rule.drop else rule.status}"
            if rule.after_effect:
                await self.app(scope, receive, _discard)
            if rule.drop:
                await drop_connection(scope, send)
            else:
                await fault_response(rule.status, rule.retry_after)(scope, receive, send)
            return
        if random.random() < knobs.drop_connection_rate:  # noqa: S311 - fault injection, not crypto
            ctx["fault"] = "drop"
            await drop_connection(scope, send)
            return
        if random.random() < knobs.error_rate:  # noqa: S311
            status = random.choice((500, 502, 503))  # noqa: S311
            ctx["fault"] = f"error:{status}"
            await fault_response(status)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _take_rule(self, method: str, path: str) -> FailRule | None:
        for rule in self.knobs.fail_next:
            if rule.method.upper() in ("*", method) and fnmatch.fnmatchcase(path, rule.path):
                rule.count -= 1
                if rule.count <= 0:
                    self.knobs.fail_next.remove(rule)
                return rule
        return None
