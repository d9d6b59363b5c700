"""`GET /v1/teams/{team_id}/reps/{rep_email}/call-tasks`: the rep's due call tasks, read live from Outreach.

Verify, read, answer: nothing about the tasks is stored, cached or logged, and every answer (errors included)
carries `Cache-Control: no-store`. A failed Outreach read is answered by the app's exception handlers
(ingress/errors.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from ingress import cursor
from ingress.errors import NO_STORE, ApiError, error, needs_reconnect, not_connected
from ingress.guards import Handler, nooks_api
from ingress.responses import JSON
from outreach.call_tasks import due_call_tasks
from outreach.errors import OutreachError
from runtime.services import Services
from schemas.call_tasks import CallTaskPage
from schemas.connection import ConnectionStatus
from schemas.times import parse_time
from store.redis import UNAVAILABLE

log = logging.getLogger(__name__)

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def no_store(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


@no_store
@nooks_api
async def list_call_tasks(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services

    limit = _limit(request.query_params.get("limit"))
    if limit is None:
        return error(422, "invalid_limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    raw_due = request.query_params.get("due_before")
    due_before = _due_before(raw_due)
    if due_before is None:
        return error(422, "invalid_due_before", "due_before must be an ISO 8601 date-time, e.g. 2026-11-29T12:00:00Z")

    key = cursor.cursor_key(services.settings.cursor_signing_secret)
    state: cursor.CursorState | None = None
    raw_cursor = request.query_params.get("cursor")
    if raw_cursor:
        try:
            state = cursor.decode(key, team_id, rep_email, raw_cursor)
        except cursor.BadCursor as bad:
            return error(400, "invalid_cursor", str(bad))
        if raw_due and abs((state.due_before - due_before).total_seconds()) >= 0.001:
            return error(400, "invalid_cursor", "cursor was issued for another due_before; repeat the first "
                                                "request's due_before, or leave it out")
        due_before = state.due_before

    status = await services.stores.connections.status(team_id, rep_email)
    if status is ConnectionStatus.NOT_CONNECTED:
        raise not_connected()
    if status is ConnectionStatus.NEEDS_RECONNECT:
        raise needs_reconnect()
    owner_id = await services.stores.users.mapped_user_id(team_id, rep_email)
    if owner_id is None:
        return error(409, "not_mapped", "the rep is not mapped to an Outreach user in this team (User Mapping)")
    if state is not None and state.owner_id != owner_id:
        return error(400, "invalid_cursor", "the rep's User Mapping changed since this cursor was issued; "
                                            "start again without a cursor")

    rep = services.outreach.client.for_rep(team_id, rep_email)
    try:
        batch = await due_call_tasks(rep, owner_id, due_before, limit, state.position if state else None)
    except (OutreachError, *UNAVAILABLE):
        raise  # answered by ingress/errors.py (Redis unavailable: 503)
    except Exception as unexpected:  # a bug: say which, but never an exception text that may quote a record
        log.error("call-tasks read failed with %s", type(unexpected).__name__)
        raise ApiError(500, "internal_error", "the call tasks could not be read", headers=NO_STORE) from None

    next_cursor = None
    if batch.next is not None:
        next_cursor = cursor.encode(key, team_id, rep_email, cursor.CursorState(owner_id, due_before, batch.next))
    page = CallTaskPage(tasks=batch.tasks, next_cursor=next_cursor, opted_out_skipped=batch.opted_out_skipped)
    return JSON(page.model_dump(mode="json"))


def _limit(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    raw = raw.strip()
    # `str.isdigit` accepts "²" and other digits `int` refuses: only ASCII digits are a number here.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_LIMIT else None


def _due_before(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return datetime.now(UTC)
    return parse_time(raw.strip())
