"""`/ops` pages, rendered on the server (Jinja2, autoescaped) from the same views as the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from ingress.errors import ApiError
from ingress.ops import charts, params, views
from ingress.ops.guard import operators_only
from schemas.ops import DeadLetterFilter

NOTHING = "\u2013"  # an en dash: shown where there is no figure
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _utc(epoch: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(fmt) if epoch else ""


def _age(seconds: float | None) -> str:
    """A duration as an operator reads it: 42 s, 3 min, 2 h 5 min, 3 d."""
    if seconds is None:
        return NOTHING
    seconds = max(seconds, 0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{round(whole / 60)} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole / 86400:.1f} d"


def _since(epoch: float | None) -> str:
    """How long ago: "3 min ago", "just now"."""
    if not epoch:
        return NOTHING
    ago = datetime.now(UTC).timestamp() - epoch
    return "just now" if ago < 1 else f"{_age(ago)} ago"


def _until(epoch: float | None) -> str:
    if not epoch:
        return NOTHING
    left = epoch - datetime.now(UTC).timestamp()
    return f"in {_age(left)}" if left >= 0 else f"{_age(-left)} ago"


def _with_param(query: Any, name: str, value: int) -> str:
    """The current query string with one parameter changed (for pagers)."""
    return urlencode({**dict(query), name: value})


def _segment(value: object) -> str:
    """A value as one URL path segment: Jinja's `urlencode` keeps `/`, which let an id point at another URL."""
    return quote(str(value), safe="")


templates.env.filters.update(utc=_utc, age=_age, since=_since, until=_until, segment=_segment)
templates.env.globals["with_param"] = _with_param


def _page(request: Request, template: str, context: dict[str, Any]) -> Response:
    context = {"operator": request.scope["ops_operator"], "may_act": request.scope["ops_may_act"], **context}
    return templates.TemplateResponse(request, template, context)


@operators_only
async def dashboard(request: Request) -> Response:
    services = params.services(request)
    try:
        which = params.dead_letter_filter(request)
    except ApiError:  # the page shows every dead letter rather than an error
        which = DeadLetterFilter()
    dl_offset = params.offset(request, "dl")
    letters, matching_total = await views.dead_letters(services, which, dl_offset)
    overview = await views.overview(services)
    minute_totals = {s: sum(p[s] for p in overview["per_minute"]) for s in views.CHART_SERIES}
    hour_totals = {s: sum(p[s] for p in overview["per_hour"]) for s in views.CHART_SERIES}
    ingest = await views.ingest(services)
    context = {
        "o": overview,
        # Past this the keep-alive is late (it renews before half of the refresh token's lifetime).
        "refresh_token_half_life": services.settings.outreach_refresh_token_days * 86400 / 2,
        "minute_chart": charts.bar_chart(overview["per_minute"], views.CHART_SERIES,
                                          title="per minute, last hour", time_format="%H:%M"),
        "hour_chart": charts.bar_chart(overview["per_hour"], views.CHART_SERIES,
                                        title="per hour, last day", time_format="%H:00"),
        "minute_legend": charts.legend(views.CHART_SERIES, minute_totals),
        "hour_legend": charts.legend(views.CHART_SERIES, hour_totals),
        "retries": await services.ops.retries.page(params.offset(request, "rt"), views.PAGE),
        "rt_offset": params.offset(request, "rt"),
        "dead_letters": letters,
        "dl_offset": dl_offset,
        "dl_total": matching_total,
        "filter": which,
        "filter_body": which.model_dump_json(exclude_none=True),
        "parked": await views.parked(services, params.offset(request, "pk")),
        "flags": await services.stores.dead_letters.flags(params.offset(request, "fl"), views.PAGE),
        "fl_offset": params.offset(request, "fl"),
        "pk_offset": params.offset(request, "pk"),
        "cn_offset": params.offset(request, "cn"),
        "wh_offset": params.offset(request, "wh"),
        "conn": await views.connections(services, params.offset(request, "cn"), params.offset(request, "wh")),
        "ingest": ingest,
        "ingest_charts": {source: charts.bar_chart(figures["per_minute"], views.INGEST_OUTCOMES,
                                                    title=f"{source} ingest per minute", time_format="%H:%M")
                          for source, figures in ingest["sources"].items()},
        "ingest_legends": {source: charts.legend(views.INGEST_OUTCOMES, figures["last_hour"])
                           for source, figures in ingest["sources"].items()},
        "audit": await services.ops.audit.page(None, 20),
        "page_size": views.PAGE,
        "query": request.query_params,
        "now": datetime.now(UTC).timestamp(),
    }
    return _page(request, "dashboard.html", context)


@operators_only
async def search(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()
    stories = await params.services(request).ops.history.search(query) if query else []
    return _page(request, "search.html", {"q": query, "stories": stories})


@operators_only
async def event(request: Request) -> Response:
    event_id = request.path_params["event_id"]
    stories = await params.services(request).ops.history.stories([event_id])
    letter = await params.services(request).stores.dead_letters.get(event_id)
    return _page(request, "event.html", {"event_id": event_id, "story": stories[0] if stories else None,
                                         "letter": letter}, )
