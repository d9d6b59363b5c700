"""The `/ops` sub-app: its routes, its static files, and the headers every answer carries (ingress/ops/guard.py).
Handlers read the web process's Services from `request.state.services`, as every other route does."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ingress.errors import EXCEPTION_HANDLERS
from ingress.ops import api, pages
from ingress.ops.guard import SecurityHeaders

STATIC = Path(__file__).parent / "static"


def create_app() -> Starlette:
    routes = [
        Route("/", pages.dashboard, methods=["GET"]),
        Route("/search", pages.search, methods=["GET"]),
        Route("/events/{event_id}", pages.event, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/summary", api.summary, methods=["GET"]),
        Route("/api/dead-letters", api.dead_letters, methods=["GET"]),
        Route("/api/dead-letters/{action}", api.on_dead_letters, methods=["POST"]),  # retry, discard
        Route("/api/dead-letters/{event_id}/{action}", api.on_dead_letter, methods=["POST"]),
        Route("/api/retries", api.retries, methods=["GET"]),
        Route("/api/parked", api.parked, methods=["GET"]),
        Route("/api/flagged", api.flagged, methods=["GET"]),
        Route("/api/connections", api.connections, methods=["GET"]),
        Route("/api/webhooks", api.webhooks, methods=["GET"]),
        Route("/api/ingest", api.ingest, methods=["GET"]),
        Route("/api/search", api.search, methods=["GET"]),
        Route("/api/events/{event_id}", api.event, methods=["GET"]),
        Route("/api/audit", api.audit, methods=["GET"]),
        Route("/api/reps/{team_id}/{rep_email}/{action}", api.on_rep, methods=["POST"]),  # release, pause, resume
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)], exception_handlers=EXCEPTION_HANDLERS)


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
