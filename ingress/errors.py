"""Every error answer in one shape, `{"error": {"code", "message", "fields"?}}`, and the app's exception
handlers (Starlette `exception_handlers`): a handler, or anything it calls, raises `ApiError` (or lets an
Outreach error or Redis being unavailable through) and the answer is built here, the one place that does. Messages
never echo what a client sent or what Outreach returned (data rule)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ingress.responses import JSON
from outreach import errors as outreach
from store.redis import UNAVAILABLE


def fields(invalid: ValidationError) -> list[dict[str, str]]:
    """Each bad field of a 422 by path and problem; input values are left out (they may be personal data)."""
    return [{"field": ".".join(str(part) for part in item["loc"]) or "(body)", "problem": item["msg"]}
            for item in invalid.errors(include_url=False, include_input=False)]


async def read_body(request: Request, limit: int, *, what: str) -> bytes:
    """Read at most `limit` bytes; refuse (413) early on a large Content-Length, and again while streaming."""
    too_large = ApiError(413, "body_too_large", f"{what} are limited to {limit // 1024} KiB")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class ApiError(Exception):
    """An answer other than success, raised from anywhere below a route."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers, extra

    def response(self) -> JSON:
        return JSON({"error": {"code": self.code, "message": self.message, **self.extra}}, status_code=self.status,
                    headers=self.headers)


NO_STORE = {"Cache-Control": "no-store"}


def not_connected() -> ApiError:
    return ApiError(409, "not_connected", "the rep has not connected Outreach in this team", headers=NO_STORE)


def needs_reconnect() -> ApiError:
    return ApiError(409, "needs_reconnect", "the rep's Outreach connection needs reconnecting", headers=NO_STORE)


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def from_outreach(failed: outreach.OutreachError) -> ApiError:
    """What the Nooks app is told when a just-in-time Outreach read fails (never cached: it was live). `str()` of
    an Outreach error carries only a status and Outreach's error id, never its body."""
    if isinstance(failed, outreach.NotConnected):
        return not_connected()
    if isinstance(failed, outreach.ReconnectRequired):
        return needs_reconnect()
    if isinstance(failed, outreach.RateLimited):
        retry = _retry_after(failed.retry_after)
        return ApiError(429, "rate_limited", "the rep's Outreach rate budget is spent; retry later",
                        headers={**NO_STORE, "Retry-After": retry}, retry_after_seconds=int(retry))
    if isinstance(failed, outreach.OutreachRejected):
        if failed.status == 403 and failed.error_id == "unauthorizedOauthScope":
            return ApiError(409, "missing_scope", "the rep's Outreach connection lacks a scope this needs; "
                                                  "the rep must reconnect", headers=NO_STORE)
        return ApiError(502, "outreach_rejected", f"Outreach refused the read ({failed})", headers=NO_STORE)
    hint = failed.retry_after if isinstance(failed, outreach.OutreachUnavailable) else None
    return ApiError(502, "outreach_unavailable", "Outreach did not answer usefully; retry later",
                    headers={**NO_STORE, "Retry-After": _retry_after(hint)} if hint else NO_STORE)


def redis_unavailable() -> ApiError:
    """Redis restarting, loading or failing over: nothing was done, the same request may be sent again."""
    return ApiError(503, "redis_unavailable", "storage is briefly unavailable; nothing was changed, retry shortly",
                    headers={"Retry-After": "1"})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _outreach_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, outreach.OutreachError)
    return from_outreach(exc).response()


async def _redis_unavailable(request: Request, exc: Exception) -> Response:
    return redis_unavailable().response()


EXCEPTION_HANDLERS = {ApiError: _api_error, outreach.OutreachError: _outreach_error,
                      **dict.fromkeys(UNAVAILABLE, _redis_unavailable)}
