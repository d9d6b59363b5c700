"""The guard in front of the Nooks app's routes: bearer `NOOKS_API_TOKEN` and well-formed path parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from ingress.auth import bearer_ok
from ingress.errors import ApiError
from ingress.paths import team_and_rep
from runtime.services import Services

Handler = Callable[[Request], Awaitable[Response]]
RepHandler = Callable[[Request, str, str], Awaitable[Response]]


def nooks_api(handler: RepHandler) -> Handler:
    """Authenticate, validate `team_id` (and `rep_email` when the path has one), then call
    `handler(request, team_id, rep_email)`; rep_email is "" on team-level routes."""

    async def guarded(request: Request) -> Response:
        services: Services = request.state.services
        if not bearer_ok(request, services.settings.nooks_api_token.get_secret_value()):
            raise ApiError(401, "unauthorized", "a valid bearer token is required")
        return await handler(request, *team_and_rep(request))

    return guarded
