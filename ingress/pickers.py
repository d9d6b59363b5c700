"""The pickers the dialer offers after a call: `GET /v1/teams/{team_id}/reps/{rep_email}/dispositions` and
`.../sequences?limit=&cursor=`, read live with the rep's token and never stored (ingress/live.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ingress import cursor
from ingress.errors import ApiError
from ingress.guards import nooks_api
from ingress.live import connected_rep, no_store, page_limit, read
from ingress.responses import JSON
from outreach import api
from runtime.services import Services
from schemas.outreach import Resource
from schemas.pickers import Disposition, DispositionList, Sequence, SequencePage

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_SEQUENCES_CURSOR = "sequences"


@no_store
@nooks_api
async def dispositions(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services
    rep = await connected_rep(services, team_id, rep_email)
    found = await read("dispositions", api.dispositions(rep))
    listing = DispositionList(dispositions=[_disposition(record) for record in found])
    return JSON(listing.model_dump(mode="json"))


@no_store
@nooks_api
async def sequences(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services
    limit = page_limit(request.query_params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT)
    if limit is None:
        raise ApiError(422, "invalid_limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    key = cursor.cursor_key(services.settings.cursor_signing_secret)
    url: str | None = None
    raw_cursor = request.query_params.get("cursor")
    if raw_cursor:
        try:
            url = _next_url(cursor.verify(key, team_id, rep_email, raw_cursor))
        except cursor.BadCursor as bad:
            raise ApiError(400, "invalid_cursor", str(bad)) from None
    rep = await connected_rep(services, team_id, rep_email)
    found, next_url = await read("sequences", api.sequences_page(rep, limit, url))
    next_cursor = None
    if next_url is not None and found:
        next_cursor = cursor.sign(key, {"v": cursor.VERSION, "k": _SEQUENCES_CURSOR, "t": team_id, "r": rep_email,
                                        "u": next_url})
    page = SequencePage(sequences=[_sequence(record) for record in found], next_cursor=next_cursor)
    return JSON(page.model_dump(mode="json"))


def _next_url(payload: dict[str, Any]) -> str:
    """The Outreach page a sequences cursor points at; a second wall behind the signature: it must still be the
    sequences listing by name."""
    url = payload.get("u")
    if payload.get("k") != _SEQUENCES_CURSOR or not isinstance(url, str):
        raise cursor.BadCursor("cursor is not one this service issued")
    parts = urlsplit(url)
    if not parts.path.endswith("/sequences") or parse_qs(parts.query).get("sort") != ["name"]:
        raise cursor.BadCursor("cursor is not one this service issued")
    return url


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _disposition(record: Resource) -> Disposition:
    order = record.attributes.get("order")
    return Disposition(id=record.id, name=_text(record.attributes.get("name")),
                       outcome=_text(record.attributes.get("outcome")),
                       order=order if isinstance(order, int) and not isinstance(order, bool) else None)


def _sequence(record: Resource) -> Sequence:
    enabled = record.attributes.get("enabled")
    return Sequence(id=record.id, name=_text(record.attributes.get("name")),
                    enabled=enabled if isinstance(enabled, bool) else None)
