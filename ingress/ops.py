"""`/ops`: the queue dashboard and its JSON API, behind HTTP Basic; 404 when no credentials are configured.

An application of its own, mounted at `/ops` by ingress/app.py (`mount()`); it reads the web process's
`Services` from the request state like every other route."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route
from starlette.types import Scope

from ingress.auth import basic_ok
from ingress.errors import EXCEPTION_HANDLERS, error
from ingress.guards import Handler
from ingress.pages import templates
from ingress.responses import JSON
from ingress.webhook_health import team_webhooks
from runtime.services import Services
from schemas.ops import ParkedEvent
from store.queue import stats


def operators_only(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        settings = request.state.services.settings
        if not settings.ops_enabled:
            return error(404, "not_found", "not found")
        if not basic_ok(request, settings.ops_username, settings.ops_password):
            response = error(401, "unauthorized", "operator credentials required")
            response.headers["WWW-Authenticate"] = 'Basic realm="ops", charset="UTF-8"'
            return response
        return await handler(request)

    return guarded


async def _parked(services: Services) -> list[ParkedEvent]:
    items = []
    for team_id, rep_email in await services.parking.parked_reps():
        for event_id, reason in (await services.parking.parked(team_id, rep_email)).items():
            items.append(ParkedEvent(event_id=event_id, team_id=team_id, rep_email=rep_email, reason=reason))
    return items


async def _summary(services: Services) -> dict[str, object]:
    return {
        "queue_depth": await services.queue.depth(),
        "dead_letters": len(await services.dead_letters.all()),
        "parked": len(await _parked(services)),
        "flagged": len(await services.dead_letters.flags()),
        "counters": await stats(services.redis),
    }


@operators_only
async def dashboard(request: Request) -> Response:
    services: Services = request.state.services
    context = {
        "summary": await _summary(services),
        "dead_letters": await services.dead_letters.all(),
        "parked": await _parked(services),
        "flags": (await services.dead_letters.flags())[-50:],
        "webhook_teams": await team_webhooks(services),
    }
    return templates.TemplateResponse(request, "ops.html", context, headers={"Cache-Control": "no-store"})


@operators_only
async def webhooks(request: Request) -> Response:
    """Each team's subscription holder and the health of its one set (docs/outreach-webhooks.md)."""
    teams = await team_webhooks(request.state.services)
    return JSON({"teams": [team.model_dump(mode="json") for team in teams]})


@operators_only
async def summary(request: Request) -> Response:
    return JSON(await _summary(request.state.services))


@operators_only
async def dead_letters(request: Request) -> Response:
    letters = await request.state.services.dead_letters.all()
    return JSON({"dead_letters": [letter.model_dump(mode="json") for letter in letters]})


@operators_only
async def retry_dead_letter(request: Request) -> Response:
    event_id = request.path_params["event_id"]
    if not await request.state.services.dead_letters.retry(event_id):
        return error(404, "not_found", "no dead letter with that event id")
    return JSON({"status": "queued", "event_id": event_id}, status_code=202)


@operators_only
async def parked(request: Request) -> Response:
    items = await _parked(request.state.services)
    return JSON({"parked": [item.model_dump(mode="json") for item in items]})


@operators_only
async def flagged(request: Request) -> Response:
    flags = await request.state.services.dead_letters.flags()
    return JSON({"flagged": [flag.model_dump(mode="json") for flag in flags]})


def create_app() -> Starlette:
    return Starlette(routes=[
        Route("/", dashboard, methods=["GET"]),
        Route("/api/summary", summary, methods=["GET"]),
        Route("/api/dead-letters", dead_letters, methods=["GET"]),
        Route("/api/dead-letters/{event_id}/retry", retry_dead_letter, methods=["POST"]),
        Route("/api/parked", parked, methods=["GET"]),
        Route("/api/flagged", flagged, methods=["GET"]),
        Route("/api/webhooks", webhooks, methods=["GET"]),
    ], exception_handlers=EXCEPTION_HANDLERS)


class _OpsMount(Mount):
    """`/ops` itself is the dashboard, as `/ops/` is (a plain Mount would redirect it)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].removeprefix(scope.get("root_path", "")) == self.path:
            path = scope["path"] + "/"
            match, child = super().matches({**scope, "path": path})
            return match, {**child, "path": path}
        return super().matches(scope)


def mount() -> Mount:
    return _OpsMount("/ops", app=create_app())
