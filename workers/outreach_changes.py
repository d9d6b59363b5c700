"""The `outreach_change` job: one reduced Outreach change (from a webhook delivery or from reconciliation).

- `user.created` / `user.updated` → that user's entry in the team's users (id, email, name), read just in time
  with the subscription rep's token.
- task, prospect, sequenceState and call changes → one notification to the dialer (`NOOKS_NOTIFY_URL`), signed
  per Standard Webhooks. The change's claim (`no:change:{key}`) makes the first job to reach it the only one
  to notify, whichever path it came by; a retry of that job keeps its claim. A 410 answer stops delivery to
  that URL for good (remembered in Redis, counted on /ops); other failures are retried with backoff.

Jobs carry ids and attribute names only; results and logs do too.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import ValidationError
from standardwebhooks import Webhook

from outreach import api
from outreach.errors import (
    NotConnected,
    OutreachError,
    OutreachRejected,
    OutreachUnavailable,
    RateLimited,
    ReconnectRequired,
)
from outreach.users import fetch_user
from runtime.services import Services
from schemas.connection import ConnectionStatus
from schemas.outreach_resources import FOLLOWED, related_ids
from schemas.outreach_webhooks import (
    NOTIFY_RESOURCES,
    USER_EVENTS,
    USER_RESOURCE,
    Notification,
    ReducedChange,
    build_notification,
)
from workers import retry

log = logging.getLogger("workers.outreach_changes")

NOTIFY_TIMEOUT_SECONDS = 10.0
OWNER_RELATIONSHIPS = ("owner", "user")
# What a bare event necessarily changed (Outreach sends these with no attributes at all).
IMPLIED_CHANGES = {"task.completed": ["state"], "sequenceState.finished": ["state"],
                   "sequenceState.advanced": ["sequenceStep"]}


async def outreach_change(ctx: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    services: Services = ctx["services"]
    try:
        reduced = ReducedChange.model_validate(change)
    except ValidationError:
        services.ops.telemetry.count("outreach_changes_invalid")
        return {"status": "invalid"}
    attempt = int(ctx.get("job_try") or 1)
    if reduced.resource == USER_RESOURCE:
        return await _refresh_user(services, reduced, attempt)
    if reduced.resource in NOTIFY_RESOURCES:
        job_id = str(ctx.get("job_id") or reduced.event_id)
        return await Notifier(services).notify(reduced, job_id, attempt)
    services.ops.telemetry.count("outreach_changes_ignored")
    return {"status": "ignored", "event": reduced.event}


async def _refresh_user(services: Services, change: ReducedChange, attempt: int) -> dict[str, Any]:
    result: dict[str, Any] = {"event": change.event, "user_id": change.resource_id}
    if change.action not in USER_EVENTS or change.resource_id is None:
        return {**result, "status": "ignored"}
    team_id, rep_email = change.team_id, change.rep_email
    if await services.stores.connections.status(team_id, rep_email) is not ConnectionStatus.CONNECTED:
        return {**result, "status": "rep_not_connected"}
    try:
        user = await fetch_user(services.outreach.client.for_rep(team_id, rep_email), change.resource_id)
    except RateLimited as limited:
        raise retry.after_rate_limit(limited) from None
    except OutreachUnavailable as unavailable:
        if retry.USER_REFRESH.exhausted(attempt):
            log.warning("user refresh gave up team=%s user=%s: %s", team_id, change.resource_id, unavailable)
            return {**result, "status": "failed", "reason": str(unavailable)}
        raise retry.USER_REFRESH.again(attempt, unavailable.retry_after) from None
    except (ReconnectRequired, NotConnected, OutreachRejected) as refused:
        log.info("user refresh skipped team=%s user=%s: %s", team_id, change.resource_id, refused)
        return {**result, "status": "failed", "reason": str(refused)}
    if user is None:
        return {**result, "status": "user_not_found"}
    await services.stores.users.upsert_users(team_id, [user])
    services.ops.telemetry.count("outreach_users_refreshed")
    log.info("user refreshed team=%s user=%s", team_id, user.id)
    return {**result, "status": "user_refreshed"}


class Notifier:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.inbox = services.stores.inbox

    async def notify(self, change: ReducedChange, job_id: str, attempt: int) -> dict[str, Any]:
        services, settings = self.services, self.services.settings
        result: dict[str, Any] = {"event": change.event, "resource_id": change.resource_id,
                                  "source": change.source}
        if not settings.notifications_enabled or settings.nooks_notify_url is None \
                or settings.nooks_notify_secret is None:
            return {**result, "status": "notifications_off"}
        url, secret = settings.nooks_notify_url, settings.nooks_notify_secret.get_secret_value()
        if change.change_key is None:
            return {**result, "status": "ignored"}
        if await self.inbox.is_gone(url):
            services.ops.telemetry.count("notifications_not_sent_gone")
            return {**result, "status": "notify_url_gone"}
        if not await self.inbox.claim(change.change_key, job_id):
            services.ops.telemetry.count("notifications_duplicate")
            return {**result, "status": "duplicate"}
        change = await self.fill_in(change)
        notification = build_notification(change, await self.rep_emails(change))
        result["notification_id"] = notification.id
        try:
            status = await self.post(url, secret, notification)
        except (aiohttp.ClientError, TimeoutError) as failed:
            return await self._retry_or_give_up(result, f"unreachable ({type(failed).__name__})", attempt)
        if 200 <= status < 300:
            services.ops.telemetry.count("notifications_sent")
            if change.source == "reconciliation":
                services.ops.telemetry.count("notifications_reconciled")
            log.info("notified %s event=%s resource_id=%s", notification.id, change.event, change.resource_id)
            return {**result, "status": "sent"}
        if status == 410:
            await self.inbox.mark_gone(url)
            self.services.ops.telemetry.count("notify_url_gone")
            log.warning("notify URL answered 410: delivery stopped for good (ops counter notify_url_gone)")
            return {**result, "status": "notify_url_gone"}
        return await self._retry_or_give_up(result, f"answered {status}", attempt)

    async def _retry_or_give_up(self, result: dict[str, Any], reason: str, attempt: int) -> dict[str, Any]:
        if retry.NOTIFY.exhausted(attempt):
            self.services.ops.telemetry.count("notifications_failed")
            log.warning("notification %s gave up after %d attempts: %s", result.get("notification_id"),
                        attempt, reason)
            return {**result, "status": "failed", "reason": reason}
        self.services.ops.telemetry.count("notifications_retried")
        log.info("notification %s retrying attempt=%d: %s", result.get("notification_id"), attempt, reason)
        raise retry.NOTIFY.again(attempt)

    async def fill_in(self, change: ReducedChange) -> ReducedChange:
        """A bare delivery (e.g. `task.completed`: type and id only) gets the record's related ids, read just in
        time with the subscription rep's token, and the attribute its event implies. Ids only; best effort: a
        notification is never held back because Outreach could not be read."""
        updates: dict[str, Any] = {}
        if not change.changed and change.event in IMPLIED_CHANGES:
            updates["changed"] = IMPLIED_CHANGES[change.event]
        followed = FOLLOWED.get(change.resource)
        if not change.related and followed and change.resource_id is not None and change.action != "destroyed":
            try:
                record = await api.get_one(self.services.outreach.client.for_rep(change.team_id, change.rep_email),
                                           followed.plural, change.resource_id)
            except OutreachError as failed:
                log.info("related ids unavailable for %s %s: %s", change.resource, change.resource_id, failed)
                record = None
            if record is not None:
                updates["related"] = related_ids(change.resource, record)
        return change.model_copy(update=updates) if updates else change

    async def rep_emails(self, change: ReducedChange) -> list[str]:
        """The reps the change concerns: every rep mapped to the record's owner/user. When none is, the rep whose
        token saw the change (the team's subscription holder, or the rep reconciliation read it for), so a
        notification always names someone who can act on it."""
        owners = {owner for name in OWNER_RELATIONSHIPS if (owner := change.related.get(name)) is not None}
        emails = await self.services.stores.users.reps_of(change.team_id, owners)
        return sorted(emails or {change.rep_email})

    async def post(self, url: str, secret: str, notification: Notification) -> int:
        body = notification.model_dump_json()
        moment = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": notification.id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": Webhook(secret).sign(notification.id, moment, body),
        }
        # A redirect is an answer like any other (not 2xx: retried), never followed with the signed body.
        async with self.services.http.post(url, data=body.encode(), headers=headers, allow_redirects=False,
                                           timeout=aiohttp.ClientTimeout(total=NOTIFY_TIMEOUT_SECONDS)) as answer:
            await answer.read()
            return answer.status
