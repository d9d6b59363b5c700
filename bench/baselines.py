"""Baseline apps for the ingress benchmark, each served exactly like the real one (uvicorn, uvloop, httptools).

- `bare`:   Starlette POST → read the body → 202. The ceiling of the stack itself.
- `verify`: + Standard Webhooks HMAC verification + pydantic validation (the same models), no Redis.
- `lpush`:  + one plain `LPUSH` of the body (what "one Redis round trip" costs with redis-py + hiredis).
- `arq`:    + arq's stock `enqueue_job` instead (several round trips: WATCH/EXISTS/MULTI...).

`python -m bench.baselines bare --port 8123` (REDIS_URL for lpush/arq, NOOKS_EVENTS_SECRET for the rest).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.events import CALL_COMPLETED, CallCompletedEvent, EventEnvelope

ACCEPTED = b'{"status":"queued"}'


def _verified(webhook: Webhook, request: Request, body: bytes) -> dict[str, Any] | None:
    headers = {name: request.headers.get(name, "") for name in ("webhook-id", "webhook-timestamp",
                                                                 "webhook-signature")}
    try:
        webhook.verify(body.decode(), headers, json_parse=False)
    except WebhookVerificationError:
        return None
    raw: dict[str, Any] = orjson.loads(body)
    envelope = EventEnvelope.model_validate(raw)
    if envelope.type == CALL_COMPLETED:
        CallCompletedEvent.model_validate(raw)
    return raw


def create_app(kind: str) -> Starlette:
    state: dict[str, Any] = {}
    webhook = Webhook(os.environ.get("NOOKS_EVENTS_SECRET", "whsec_" + "eA==" * 8))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if kind == "lpush":
            from store.redis import connect

            state["redis"] = connect(os.environ["REDIS_URL"])
        elif kind == "arq":
            from arq.connections import RedisSettings, create_pool

            state["arq"] = await create_pool(RedisSettings.from_dsn(os.environ["REDIS_URL"]))
        yield
        for client in state.values():
            await client.aclose()

    async def bare(request: Request) -> Response:
        await request.body()
        return Response(ACCEPTED, 202, media_type="application/json")

    async def verify(request: Request) -> Response:
        body = await request.body()
        if _verified(webhook, request, body) is None:
            return Response(b'{"error":"bad_signature"}', 401, media_type="application/json")
        return Response(ACCEPTED, 202, media_type="application/json")

    async def lpush(request: Request) -> Response:
        body = await request.body()
        if _verified(webhook, request, body) is None:
            return Response(b'{"error":"bad_signature"}', 401, media_type="application/json")
        await state["redis"].lpush("bench:lpush", body)
        return Response(ACCEPTED, 202, media_type="application/json")

    async def arq(request: Request) -> Response:
        body = await request.body()
        raw = _verified(webhook, request, body)
        if raw is None:
            return Response(b'{"error":"bad_signature"}', 401, media_type="application/json")
        await state["arq"].enqueue_job("log_call", raw["id"], _job_id=raw["id"])
        return Response(ACCEPTED, 202, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    handler = {"bare": bare, "verify": verify, "lpush": lpush, "arq": arq}[kind]
    return Starlette(routes=[Route("/v1/nooks/events", handler, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines")
    parser.add_argument("app", choices=("bare", "verify", "lpush", "arq"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.app), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
