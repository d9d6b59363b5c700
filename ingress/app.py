"""The Starlette application: routes only; each handler lives in the module named for its concept.

The lifespan opens the process's `Services` (runtime/services.py) once and hands them to every request as
`request.state.services`; errors become answers in ingress/errors.py's exception handlers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from ingress import (
    call_tasks,
    health,
    nooks_events,
    oauth_flow,
    openapi,
    outcome_rules,
    outreach_webhooks,
    pickers,
    reps,
)
from ingress.deadline import BodyDeadline
from ingress.errors import EXCEPTION_HANDLERS
from ingress.ingest import counted
from ingress.ops import app as ops
from runtime.services import Services
from schemas.settings import Settings
from store.indexes import ensure_indexes
from store.redis import UNAVAILABLE, check_durability

log = logging.getLogger("ingress")


async def warn_about_durability(services: Services) -> None:
    try:
        warnings = await check_durability(services.redis)
    except UNAVAILABLE:
        return  # the workers check too, once Redis answers
    for warning in warnings:
        log.warning("%s", warning)


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Services]]:
        services = Services.open(settings)
        services.ops.flusher.start()
        with contextlib.suppress(RedisError, OSError):  # Redis down at start: /readyz says so, ingress answers 503
            stores = services.stores
            await ensure_indexes(stores.users, stores.connections, stores.parking, stores.subscriptions,
                                 stores.dead_letters)
        await warn_about_durability(services)
        try:
            yield {"services": services}
        finally:
            await services.close()

    routes = [
        Route("/v1/nooks/events", counted("nooks", nooks_events.receive), methods=["POST"]),
        Route("/v1/outreach/webhooks", counted("outreach", outreach_webhooks.receive), methods=["POST"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/connect-link", oauth_flow.connect_link, methods=["POST"]),
        Route("/v1/outreach/oauth/start", oauth_flow.start, methods=["GET"]),
        Route("/v1/outreach/oauth/callback", oauth_flow.callback, methods=["GET"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/connection", reps.connection, methods=["GET", "DELETE"]),
        Route("/v1/teams/{team_id}/user-mappings", reps.list_mappings, methods=["GET"]),
        Route("/v1/teams/{team_id}/user-mappings/{rep_email}", reps.put_mapping, methods=["PUT"]),
        Route("/v1/teams/{team_id}/call-outcome-rules", outcome_rules.outcome_rules, methods=["GET", "PUT"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/call-tasks", call_tasks.list_call_tasks, methods=["GET"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/dispositions", pickers.dispositions, methods=["GET"]),
        Route("/v1/teams/{team_id}/reps/{rep_email}/sequences", pickers.sequences, methods=["GET"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        ops.mount(),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS,
                     middleware=[Middleware(BodyDeadline, seconds=settings.web_body_timeout)])
