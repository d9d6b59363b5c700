"""`GET /v1/teams/{team_id}/reps/{rep_email}/call-tasks`: the rep's due call tasks, read live from Outreach.

Verify, read, answer: nothing about the tasks is stored, cached or logged, and every answer (errors included)
carries `Cache-Control: no-store`. A failed Outreach read is answered by the app's exception handlers
(ingress/errors.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from ingress import cursor
from ingress.errors import ApiError
from ingress.guards import nooks_api
from ingress.live import connected_rep, no_store, page_limit, positive_id, read
from ingress.responses import JSON
from outreach.call_tasks import due_call_tasks
from runtime.services import Services
from schemas.call_tasks import CallTaskPage
from schemas.times import parse_time

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


@no_store
@nooks_api
async def list_call_tasks(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services

    limit = _limit(request.query_params.get("limit"))
    if limit is None:
        raise ApiError(422, "invalid_limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    raw_due = request.query_params.get("due_before")
    due_before = _due_before(raw_due)
    if due_before is None:
        raise ApiError(422, "invalid_due_before", "due_before must be an ISO 8601 date-time, e.g. 2026-11-29T12:00:00Z")
    raw_sequence = request.query_params.get("sequence_id")
    sequence_id = positive_id(raw_sequence) if raw_sequence else None
    if raw_sequence and sequence_id is None:
        raise ApiError(422, "invalid_sequence_id", "sequence_id must be an Outreach sequence id (a positive integer)")

    key = cursor.cursor_key(services.settings.cursor_signing_secret)
    state: cursor.CursorState | None = None
    raw_cursor = request.query_params.get("cursor")
    if raw_cursor:
        try:
            state = cursor.decode(key, team_id, rep_email, raw_cursor)
        except cursor.BadCursor as bad:
            raise ApiError(400, "invalid_cursor", str(bad)) from None
        if raw_due and abs((state.due_before - due_before).total_seconds()) >= 0.001:
            raise ApiError(400, "invalid_cursor", "cursor was issued for another due_before; repeat the first "
                                                  "request's due_before, or leave it out")
        if raw_sequence and sequence_id != state.sequence_id:
            raise ApiError(400, "invalid_cursor", "cursor was issued for another sequence_id; repeat the first "
                                                  "request's sequence_id, or leave it out")
        due_before, sequence_id = state.due_before, state.sequence_id

    rep = await connected_rep(services, team_id, rep_email)
    owner_id = await services.stores.users.mapped_user_id(team_id, rep_email)
    if owner_id is None:
        raise ApiError(409, "not_mapped", "the rep is not mapped to an Outreach user in this team (User Mapping)")
    if state is not None and state.owner_id != owner_id:
        raise ApiError(400, "invalid_cursor", "the rep's User Mapping changed since this cursor was issued; "
                                              "start again without a cursor")

    batch = await read("call tasks", due_call_tasks(rep, owner_id, due_before, limit,
                                                    state.position if state else None, sequence_id))

    next_cursor = None
    if batch.next is not None:
        next_cursor = cursor.encode(key, team_id, rep_email, cursor.CursorState(
            owner_id, due_before, batch.next, sequence_id))
    page = CallTaskPage(tasks=batch.tasks, next_cursor=next_cursor, opted_out_skipped=batch.opted_out_skipped)
    return JSON(page.model_dump(mode="json"))


def _limit(raw: str | None) -> int | None:
    return page_limit(raw, DEFAULT_LIMIT, MAX_LIMIT)


def _due_before(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return datetime.now(UTC)
    return parse_time(raw.strip())
