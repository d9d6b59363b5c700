"""`POST /v1/outreach/webhooks`: Outreach deliveries, verified, reduced and queued in milliseconds.

Outreach waits 5 s and never retries an HTTP error, so the answer must be fast and honest: 2xx only once the
reduced change is durably queued, 503 when Redis cannot take it. Order: size (413) → the format of
`Outreach-Webhook-Id` and of the signature (401, before any lookup) → the subscription it names and the hex
HMAC-SHA256 of the raw body with its secret (401, the same answer for both) → JSON (400) → `meta.deliveredAt`
within the last hour (400) → lenient reduction (never a 500) → one Lua call that dedupes the event id AND the
signed body (the event id header is not signed) and queues the job.

Also what a rep connecting or disconnecting does to the team's one set of subscriptions in Outreach
(docs/outreach-webhooks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from ingress.errors import ApiError, read_body
from ingress.responses import JSON
from runtime.services import Services
from schemas.outreach_webhooks import SUBSCRIBED_RESOURCES, is_stale, parse_delivery, reduce_delivery
from store.subscriptions import Subscription

log = logging.getLogger("ingress.outreach_webhooks")

MAX_BODY_BYTES = 256 * 1024
MAX_HEADER_LENGTH = 128
# Hex SHA-256, checked as ASCII before any compare: `hmac.compare_digest` raises TypeError on non-ASCII `str`.
SIGNATURE = re.compile(r"[0-9a-f]{64}")
UNSUBSCRIBE_TIMEOUT_SECONDS = 5.0
# A disconnect of the holder moves the set before the tokens go: the next rep's set is created, then this one's
# deleted with its own token. The rep's DELETE waits at most this long; past it the set is abandoned (forgotten
# here, deleted best effort) and a sync job finishes the move.
MOVE_TIMEOUT_SECONDS = 10.0
LOCK_WAIT_SECONDS = 3.0


def _header_id(value: str) -> str | None:
    value = value.strip()
    if not value or len(value) > MAX_HEADER_LENGTH or not value.isprintable() or any(c.isspace() for c in value):
        return None
    return value


def _signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def receive(request: Request) -> Response:
    services: Services = request.state.services
    body = await read_body(request, MAX_BODY_BYTES, what="deliveries")
    webhook_id = _header_id(request.headers.get("outreach-webhook-id", ""))
    signature = request.headers.get("outreach-webhook-signature", "").strip().lower()
    # The format first: no subscription is looked up and no secret decrypted for a signature that cannot match.
    if webhook_id is None or not SIGNATURE.fullmatch(signature):
        raise _refused()
    try:
        candidates = await services.stores.subscriptions.candidates(webhook_id)
    except RedisError:
        log.exception("subscription lookup failed webhook=%s", webhook_id)
        raise ApiError(503, "store_unavailable", "the delivery could not be stored; retry later") from None
    sub = _verify(candidates, body, signature)
    if sub is None:
        raise _refused()
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "body is not valid JSON (signature was valid)") from None
    # No Event-Id header: the body's HMAC (= the verified signature) stands in, so a byte-identical
    # re-delivery is still recognised.
    event_id = _header_id(request.headers.get("outreach-webhook-event-id", "")) or f"sig-{signature}"
    parsed = parse_delivery(raw)
    if is_stale(parsed, time.time()):
        services.ops.telemetry.count("outreach_webhooks_stale")
        raise ApiError(400, "stale_delivery", "meta.deliveredAt is unreadable or not within the last hour")
    change = reduce_delivery(parsed, team_id=sub.team_id, rep_email=sub.rep_email, webhook_id=webhook_id,
                             event_id=event_id, received_at=int(time.time() * 1000))
    wanted = change is not None and change.resource in SUBSCRIBED_RESOURCES
    try:
        fresh = await services.stores.inbox.accept(sub.team_id, event_id,
                                            change.model_dump(mode="json") if wanted and change else None,
                                            body_mac=signature)
        if fresh and not wanted:
            services.ops.telemetry.count("outreach_webhooks_ignored")
    except RedisError:
        log.exception("queue write failed webhook=%s event=%s", webhook_id, event_id)
        raise ApiError(503, "queue_unavailable", "the delivery could not be stored; retry later") from None
    if not fresh:
        return JSON({"status": "duplicate", "event_id": event_id}, status_code=200)
    return JSON({"status": "queued" if wanted else "ignored", "event_id": event_id}, status_code=202)


def _refused() -> ApiError:
    """One answer for an unknown subscription and a bad signature: which it was would tell a prober which
    subscription ids exist."""
    return ApiError(401, "bad_signature", "unknown webhook subscription or bad signature")


def _verify(candidates: list[Subscription], body: bytes, signature: str) -> Subscription | None:
    for sub in candidates:
        if hmac.compare_digest(_signature(sub.secret, body), signature):
            return sub
    return None


# --- a rep connects or disconnects --------------------------------------------------------------------------
async def subscribe_rep(services: Services, team_id: str, rep_email: str) -> None:
    """Subscribe (or repair, or move the team's set to this rep) in the background: the rep's browser is waiting
    on the OAuth callback."""
    await _queue_sync(services, team_id, rep_email)


async def _queue_sync(services: Services, team_id: str, rep_email: str) -> None:
    try:
        await services.stores.inbox.queue_subscription_sync(team_id, rep_email)
    except RedisError:
        log.warning("could not queue the webhook subscription job team=%s (the repair cron will)", team_id)


async def unsubscribe_rep(services: Services, team_id: str, rep_email: str) -> None:
    """Runs before the tokens are deleted: the team's set moves to another rep (or goes, with the last rep) while
    this rep's token can still delete what it holds."""
    try:
        async with asyncio.timeout(MOVE_TIMEOUT_SECONDS):
            report = await services.outreach.webhooks.release(team_id, rep_email, wait=LOCK_WAIT_SECONDS)
        log.info("webhooks after disconnect team=%s rep=%s holder=%s retired=%s", team_id, rep_email,
                 report.holder, report.retired)
    except Exception as failed:  # a disconnect must always complete
        log.warning("webhook move on disconnect did not finish team=%s rep=%s error=%s", team_id, rep_email,
                    type(failed).__name__)
        await _abandon(services, team_id, rep_email)
    try:
        await services.stores.inbox.forget_rep(team_id, rep_email)
    except RedisError:
        log.warning("could not forget reconciliation cursors team=%s rep=%s", team_id, rep_email)


async def _abandon(services: Services, team_id: str, rep_email: str) -> None:
    try:
        deleted = await services.outreach.webhooks.abandon(team_id, rep_email, UNSUBSCRIBE_TIMEOUT_SECONDS)
    except Exception as failed:
        log.warning("webhook unsubscribe failed team=%s rep=%s error=%s", team_id, rep_email,
                    type(failed).__name__)
        return
    log.info("webhooks abandoned team=%s rep=%s deleted=%d", team_id, rep_email, deleted)
    await _queue_sync(services, team_id, "")
