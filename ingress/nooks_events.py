"""`POST /v1/nooks/events`: Standard Webhooks verification, validation, dedupe and a durable enqueue.

Order matters: size (413) before anything is buffered, signature (401) before the body is trusted enough to
parse, JSON (400), then the schema (422). One Redis round trip stores, dedupes and queues the event.
"""

from __future__ import annotations

import binascii
import logging
import re

import orjson
from pydantic import ValidationError
from redis.exceptions import RedisError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

from ingress.errors import ApiError, fields, read_body
from ingress.responses import JSON
from runtime.services import Services
from schemas.events import CALL_COMPLETED, CallCompletedEvent, EventEnvelope
from schemas.ops import EventIds
from store.job_queue import NotReplicated

log = logging.getLogger("ingress.events")

MAX_BODY_BYTES = 256 * 1024
# A webhook-id is 1-255 letters, digits and `_ . : -`, never `.` or `..`. An id is a path segment in /ops (its story,
# its dead letter's buttons): a `/` or a dot-segment there would point at another event's URL.
EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,255}")


def valid_event_id(event_id: str) -> bool:
    return EVENT_ID.fullmatch(event_id) is not None and event_id not in (".", "..")


async def receive(request: Request) -> Response:
    services: Services = request.state.services
    body = await read_body(request, MAX_BODY_BYTES, what="event bodies")
    event_id = request.headers.get("webhook-id", "")
    if not event_id:
        raise ApiError(401, "bad_signature", "missing webhook-id header")
    if not valid_event_id(event_id):
        raise ApiError(400, "bad_event_id", "webhook-id must be 1-255 letters, digits, '_', '.', ':' or '-' "
                                            "(and not '.' or '..')")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_json", "body is not UTF-8 encoded JSON") from None
    problem = _verify(services.nooks_events, text, request)
    if problem:
        raise ApiError(401, "bad_signature", problem)
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "body is not valid JSON") from None
    call: tuple[str, str, str] | None = None
    try:
        envelope = EventEnvelope.model_validate(raw)
        if envelope.type == CALL_COMPLETED:
            data = CallCompletedEvent.model_validate(raw).data
            call = (data.team_id, data.call_id, data.rep_email)
    except ValidationError as invalid:
        raise ApiError(422, "invalid_event", "event does not match the schema", fields=fields(invalid)) from None
    if call is not None and (problems := data.after_call_problems()):
        raise ApiError(422, "invalid_event", "event does not match the schema",
                       fields=[{"field": name, "problem": problem} for name, problem in problems])
    queued = envelope.type == CALL_COMPLETED
    try:
        fresh = await services.stores.queue.accept(event_id, body, queue=queued, call=call)
        if fresh and not queued:
            await services.stores.queue.record_ignored(event_id, envelope.type)
            services.ops.telemetry.count("events_ignored")
    except NotReplicated as unconfirmed:
        # On the master, maybe not on a replica a failover would promote: the sender's retry is answered 200
        # (duplicate) if it was kept, 202 if it was lost with the master.
        log.warning("event=%s not confirmed by replicas: %s", event_id, unconfirmed)
        raise ApiError(503, "queue_unavailable", "the event could not be stored safely; retry later") from None
    except RedisError:
        log.exception("queue write failed for event=%s", event_id)
        raise ApiError(503, "queue_unavailable", "the event could not be stored; retry later") from None
    except Exception:
        # Not stored, so not acknowledged: whatever failed (the fault suite once saw a 500 here during a Sentinel
        # failover, from an error the Redis client did not wrap), the sender's retry is the remedy, not a 500.
        log.exception("queue write failed unexpectedly for event=%s", event_id)
        raise ApiError(503, "queue_unavailable", "the event could not be stored; retry later") from None
    if call is not None:
        # The first step of the event's story, and what indexes it for search (store/history.py).
        ids = EventIds(team_id=call[0], call_id=call[1], rep_email=call[2])
        services.ops.history.record(event_id, "received" if fresh else "redelivered", ids=ids)
    if not fresh:
        return JSON({"status": "duplicate", "event_id": event_id}, status_code=200)
    return JSON({"status": "queued" if queued else "ignored", "event_id": event_id}, status_code=202)


def _verify(webhook: Webhook, body: str, request: Request) -> str | None:
    headers = {name: request.headers.get(name, "") for name in ("webhook-id", "webhook-timestamp",
                                                                 "webhook-signature")}
    try:
        webhook.verify(body, headers, json_parse=False)
    except WebhookVerificationError as failed:
        return _explain(str(failed))
    except (ValueError, binascii.Error):  # a signature list the library cannot even split, or bad base64
        return "malformed webhook-signature header"
    return None


def _explain(message: str) -> str:
    lowered = message.lower()
    if "missing" in lowered:
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    if "too old" in lowered or "too new" in lowered:
        return "webhook-timestamp is more than 5 minutes off"
    if "invalid signature headers" in lowered:
        return "malformed webhook-timestamp header"
    return "signature does not match"
