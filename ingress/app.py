"""The Starlette application: routes only; each handler lives in the module named for its concept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from ingress import call_tasks, health, oauth_flow, ops, reps
from ingress.nooks_events import NooksEvents
from ingress.outreach_webhooks import OutreachWebhooks
from runtime.services import Services
from schemas.settings import Settings


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.open(settings)
        app.state.services = services
        app.state.on_connect = []
        app.state.on_disconnect = []
        events.bind(services)
        outreach_webhooks.bind(services)
        app.state.on_connect.append(outreach_webhooks.on_connect)
        app.state.on_disconnect.append(outreach_webhooks.on_disconnect)
        try:
            yield
        finally:
            await services.close()

    events = NooksEvents(settings.nooks_events_secret)
    outreach_webhooks = OutreachWebhooks()
    routes = [
        Route("/v1/nooks/events", events.handle, methods=["POST"]),
        Route("/v1/outreach/webhooks", outreach_webhooks.handle, methods=["POST"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/connect-link", oauth_flow.connect_link, methods=["POST"]),
        Route("/v1/outreach/oauth/start", oauth_flow.start, methods=["GET"]),
        Route("/v1/outreach/oauth/callback", oauth_flow.callback, methods=["GET"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/connection", reps.connection, methods=["GET", "DELETE"]),
        Route("/v1/teams/{team_id}/user-mappings", reps.list_mappings, methods=["GET"]),
        Route("/v1/teams/{team_id}/user-mappings/{rep_email}", reps.put_mapping, methods=["PUT"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/call-tasks", call_tasks.list_call_tasks, methods=["GET"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
        Route("/ops", ops.dashboard, methods=["GET"]),
        Route("/ops/api/summary", ops.summary, methods=["GET"]),
        Route("/ops/api/dead-letters", ops.dead_letters, methods=["GET"]),
        Route("/ops/api/dead-letters/{event_id}/retry", ops.retry_dead_letter, methods=["POST"]),
        Route("/ops/api/parked", ops.parked, methods=["GET"]),
        Route("/ops/api/flagged", ops.flagged, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
