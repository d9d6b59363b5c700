"""Ingest figures: every delivery to an ingress endpoint counted by source and outcome, per minute (for /ops
and /metrics). The outcome is the answer's status: a success's, or the refusal's the handler raised."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ingress.errors import ApiError
from ingress.guards import Handler
from runtime.services import Services

OUTCOMES = {202: "accepted", 200: "duplicate", 401: "refused_signature", 422: "refused_schema",
            413: "refused_size", 400: "bad_json", 503: "unavailable"}


def counted(source: str, handler: Handler) -> Handler:
    async def counting(request: Request) -> Response:
        services: Services = request.state.services
        try:
            response = await handler(request)
        except ApiError as refused:  # answered by the app's exception handlers (ingress/errors.py)
            services.ops.telemetry.count(f"ingest:{source}:{OUTCOMES.get(refused.status, 'other')}")
            raise
        services.ops.telemetry.count(f"ingest:{source}:{OUTCOMES.get(response.status_code, 'other')}")
        return response

    return counting
