"""What every just-in-time read for the Nooks app shares: answers never cached, and the rep's usable connection.

Nothing read from Outreach here is stored, cached or logged; a failed Outreach read is answered by the app's
exception handlers (ingress/errors.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from ingress.errors import NO_STORE, ApiError, needs_reconnect, not_connected
from ingress.guards import Handler
from outreach.client import RepSession
from outreach.errors import OutreachError
from runtime.services import Services
from schemas.connection import ConnectionStatus
from store.redis import UNAVAILABLE

log = logging.getLogger(__name__)
T = TypeVar("T")


def no_store(handler: Handler) -> Handler:
    """Every answer of the route is marked not to be cached, refusals too (the guard's 401 and 422, a bad
    cursor)."""

    async def wrapped(request: Request) -> Response:
        try:
            response = await handler(request)
        except ApiError as refused:
            refused.headers = {**(refused.headers or {}), **NO_STORE}
            raise
        response.headers.update(NO_STORE)
        return response

    return wrapped


async def connected_rep(services: Services, team_id: str, rep_email: str) -> RepSession:
    """The rep's Outreach session, or 409 when the rep has no usable connection in that team."""
    status = await services.stores.connections.status(team_id, rep_email)
    if status is ConnectionStatus.NOT_CONNECTED:
        raise not_connected()
    if status is ConnectionStatus.NEEDS_RECONNECT:
        raise needs_reconnect()
    return services.outreach.client.for_rep(team_id, rep_email)


async def read(what: str, reading: Awaitable[T]) -> T:
    """Await an Outreach read; a failure other than Outreach's or Redis's is a bug, told without its text (it may
    quote a record)."""
    try:
        return await reading
    except (OutreachError, *UNAVAILABLE):
        raise  # answered by ingress/errors.py (Redis unavailable: 503)
    except Exception as unexpected:
        log.error("%s read failed with %s", what, type(unexpected).__name__)
        raise ApiError(500, "internal_error", f"the {what} could not be read", headers=NO_STORE) from None


def page_limit(raw: str | None, default: int, maximum: int) -> int | None:
    """`limit=` from 1 to `maximum` (absent: `default`), or None when it is not one."""
    if raw is None or raw == "":
        return default
    raw = raw.strip()
    # `str.isdigit` accepts "²" and other digits `int` refuses: only ASCII digits are a number here.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        return None
    value = int(raw)
    return value if 1 <= value <= maximum else None


def positive_id(raw: str) -> int | None:
    """An Outreach id given in a query (ASCII digits, above zero, at most 18 of them), or None."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    value = int(raw)
    return value if value > 0 else None
