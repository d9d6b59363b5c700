"""`/ops/api/...`: the dashboard's JSON API (docs/ops.md). Every handler is behind
`operators_only`; lists take `offset` and answer `next_offset` (null on the last page)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ingress.errors import ApiError, fields, read_body
from ingress.ops import actions, params, views
from ingress.ops.guard import operator, operators_only
from ingress.paths import team_and_rep
from ingress.responses import JSON
from ingress.webhook_health import team_webhooks
from schemas.ops import DeadLetterFilter
from store.dead_letters import EVENT_GONE, NOT_FOUND

MAX_BODY_BYTES = 4096


def _page(name: str, items: Sequence[BaseModel], total: int, offset: int) -> JSON:
    return JSON({name: [item.model_dump(mode="json") for item in items], "total": total,
                 "next_offset": offset + views.PAGE if offset + views.PAGE < total else None})


@operators_only
async def summary(request: Request) -> Response:
    return JSON(await views.overview(params.services(request)))


@operators_only
async def dead_letters(request: Request) -> Response:
    services, offset = params.services(request), params.offset(request)
    letters, total = await views.dead_letters(services, params.dead_letter_filter(request), offset)
    return _page("dead_letters", letters, total, offset)


ANSWERS = {actions.RETRY: ("queued", 202, "retried"), actions.DISCARD: ("discarded", 200, "discarded")}


@operators_only
async def on_dead_letter(request: Request) -> Response:
    """`POST /ops/api/dead-letters/{event_id}/{retry|discard}`."""
    event_id, action = request.path_params["event_id"], request.path_params["action"]
    if action not in ANSWERS:
        raise ApiError(404, "not_found", "the actions are retry and discard")
    outcome = await actions.on_dead_letter(params.services(request), operator(request), action, event_id)
    if outcome == NOT_FOUND:
        raise ApiError(404, "not_found", "no dead letter with that event id")
    if outcome == EVENT_GONE:
        raise ApiError(409, "event_gone", "the event this dead letter kept is gone, so it cannot be retried; "
                                          "discard it")
    status, code, _ = ANSWERS[action]
    return JSON({"status": status, "event_id": event_id}, status_code=code)


async def _filter_from_body(request: Request) -> DeadLetterFilter:
    body = await read_body(request, MAX_BODY_BYTES, what="filters")  # 413 past 4 KiB
    try:
        return DeadLetterFilter.model_validate(orjson.loads(body) if body.strip() else {})
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "body is not valid JSON") from None
    except ValidationError as invalid:
        raise ApiError(422, "invalid_filter", "the filter takes reason, team_id and rep_email",
                       fields=fields(invalid)) from None


@operators_only
async def on_dead_letters(request: Request) -> Response:
    """`POST /ops/api/dead-letters/{retry|discard}` with a filter: every dead letter it takes; answers how many."""
    action = request.path_params["action"]
    if action not in ANSWERS:
        raise ApiError(404, "not_found", "the actions are retry and discard")
    which = await _filter_from_body(request)
    count = await actions.on_dead_letters(params.services(request), operator(request), action, which)
    _, code, answer = ANSWERS[action]
    return JSON({answer: count, "filter": which.model_dump(exclude_none=True)}, status_code=code)


@operators_only
async def retries(request: Request) -> Response:
    board, offset = params.services(request).ops.retries, params.offset(request)
    return _page("retries", await board.page(offset, views.PAGE), await board.count(), offset)


@operators_only
async def parked(request: Request) -> Response:
    return JSON(await views.parked(params.services(request), params.offset(request)))


@operators_only
async def flagged(request: Request) -> Response:
    services, offset = params.services(request), params.offset(request)
    flags = await services.stores.dead_letters.flags(offset, views.PAGE)
    return _page("flagged", flags, await services.stores.dead_letters.flag_count(), offset)


@operators_only
async def connections(request: Request) -> Response:
    return JSON(await views.connections(params.services(request), params.offset(request)))


@operators_only
async def webhooks(request: Request) -> Response:
    """Each team's subscription holder and the health of its one set (docs/outreach-webhooks.md), a page of
    teams at a time."""
    offset = params.offset(request)
    teams, total = await team_webhooks(params.services(request), offset, views.PAGE)
    return _page("teams", teams, total, offset)


@operators_only
async def ingest(request: Request) -> Response:
    return JSON(await views.ingest(params.services(request)))


@operators_only
async def search(request: Request) -> Response:
    query = request.query_params.get("q", "")
    stories = await params.services(request).ops.history.search(query)
    return JSON({"query": query, "events": [story.model_dump(mode="json") for story in stories]})


@operators_only
async def event(request: Request) -> Response:
    stories = await params.services(request).ops.history.stories([request.path_params["event_id"]])
    if not stories:
        raise ApiError(404, "not_found", "no story for that event id (kept 7 days)")
    return JSON(stories[0].model_dump(mode="json"))


@operators_only
async def audit(request: Request) -> Response:
    before = request.query_params.get("before")
    if before is not None and not _stream_id(before):
        raise ApiError(422, "invalid_cursor", "before is the id of an audit entry")
    entries = await params.services(request).ops.audit.page(before, views.PAGE)
    return JSON({"audit": [entry.model_dump(mode="json") for entry in entries],
                 "next_before": entries[-1].id if len(entries) == views.PAGE else None})


def _stream_id(value: str) -> bool:
    millis, _, sequence = value.partition("-")
    return value.isascii() and millis.isdigit() and sequence.isdigit()  # "²".isdigit() is true


@operators_only
async def on_rep(request: Request) -> Response:
    """`POST /ops/api/reps/{team_id}/{rep_email}/{release|pause|resume}`."""
    action = request.path_params["action"]
    if action not in ("release", "pause", "resume"):
        raise ApiError(404, "not_found", "the actions are release, pause and resume")
    rep = team_and_rep(request)
    services, who = params.services(request), operator(request)
    result: dict[str, Any] = {"team_id": rep[0], "rep_email": rep[1]}
    if action == "release":
        result["released"] = await actions.release(services, who, *rep)
    elif action == "pause":
        result.update(paused=True, changed=await actions.pause(services, who, *rep))
    else:
        result.update(paused=False, released=await actions.resume(services, who, *rep))
    return JSON(result)
