"""Webhook subscriptions in Outreach (`/webhooks`, scope `webhooks.all`), one per resource and rep.

`sync` makes Outreach hold exactly one active subscription per resource for the rep, targeting
`{PUBLIC_BASE_URL}/v1/outreach/webhooks`, each with its own random secret (stored encrypted):
- a stored subscription that Outreach still has, active → kept;
- one Outreach disabled (`active` false, `disabledReason`) → deleted and created afresh (new secret);
- one Outreach deleted → created afresh;
- one in Outreach with our URL that nobody here knows (a crash between create and save, a lost Redis) and
  that this rep authorized → deleted (its secret is unknown: it could never be verified).
Subscriptions of other reps of the team share URL and resource; they are recognised by id and left alone.
A Redis lock per rep keeps concurrent syncs (connect, reconnect, the repair cron) from creating duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

from redis.asyncio import Redis

from outreach import api
from outreach.client import OutreachClient, RepSession
from outreach.errors import NotFound
from schemas.outreach import Resource, Single
from schemas.outreach_webhooks import SUBSCRIBED_RESOURCES
from store import keys
from store.locks import Lock
from store.subscriptions import Subscription, SubscriptionStore
from store.users import UserDirectory

log = logging.getLogger("outreach.webhooks")

SYNC_LOCK_MS = 60_000
SCOPE = "webhooks.all"


async def rep_webhooks(rep: RepSession, target_url: str, ids: set[str], user_id: int | None) -> list[Resource]:
    """The org's webhooks to our URL that concern this rep: the ones we stored for it (`ids`) and any its user
    authorized. Filtered page by page: the org lists every rep's webhooks (5 per rep), and keeping all of them for
    each of many reps syncing at once held a lot of memory in the worker (docs/tuning.md)."""
    return [hook async for hook in api.iterate(rep, "webhooks", {})
            if hook.attributes.get("url") == target_url
            and (str(hook.id) in ids or (user_id is not None and hook.related_id("authorizer") == user_id))]


async def create_webhook(rep: RepSession, url: str, resource: str, secret: str, action: str = "*") -> Resource:
    document = await rep.post("/webhooks", body={"data": {"type": "webhook", "attributes": {
        "url": url, "resource": resource, "action": action, "secret": secret, "active": True}}})
    return Single.model_validate(document).data


async def delete_webhook(rep: RepSession, webhook_id: str) -> bool:
    """False when Outreach no longer has it."""
    try:
        await rep.delete(f"/webhooks/{webhook_id}")
    except NotFound:
        return False
    return True


def is_active(hook: Resource) -> bool:
    return hook.attributes.get("active") is True and not hook.attributes.get("disabledReason")


@dataclass
class SyncReport:
    kept: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"kept": self.kept, "created": self.created, "repaired": self.repaired,
                "orphans_deleted": self.orphans_deleted}


class SubscriptionBusy(Exception):
    """Another process is syncing this rep's subscriptions right now."""


class SubscriptionManager:
    def __init__(self, redis: Redis, client: OutreachClient, store: SubscriptionStore, users: UserDirectory,
                 target_url: str) -> None:
        self._redis = redis
        self._client = client
        self._store = store
        self._users = users
        self.target_url = target_url

    async def sync(self, team_id: str, rep_email: str) -> SyncReport:
        lock = Lock(self._redis, keys.subscriptions_lock(team_id, rep_email), SYNC_LOCK_MS)
        if not await lock.acquire():
            raise SubscriptionBusy
        try:
            return await self._sync(team_id, rep_email)
        finally:
            await lock.release()

    async def _sync(self, team_id: str, rep_email: str) -> SyncReport:
        rep = self._client.for_rep(team_id, rep_email)
        report = SyncReport()
        stored = await self._store.for_rep(team_id, rep_email)
        stored_ids = await self._store.webhook_ids(team_id, rep_email)
        user_id = await self._users.mapped_user_id(team_id, rep_email)
        ours = await rep_webhooks(rep, self.target_url, set(stored_ids.values()), user_id)
        remote = {str(hook.id): hook for hook in ours}
        for resource in SUBSCRIBED_RESOURCES:
            sub = stored.get(resource)
            hook = remote.get(sub.webhook_id) if sub else None
            if sub is not None and hook is not None and is_active(hook) and \
                    hook.attributes.get("resource") == resource:
                report.kept.append(resource)
                continue
            if resource in stored_ids:  # gone, disabled, or a secret we can no longer open
                old_id = stored_ids[resource]
                if old_id in remote:
                    await delete_webhook(rep, old_id)
                await self._store.remove(team_id, rep_email, resource, old_id)
                report.repaired.append(resource)
            else:
                report.created.append(resource)
            await self._create(rep, resource)
        if user_id is not None:
            await self._delete_orphans(rep, user_id, ours, report)
        return report

    async def _create(self, rep: RepSession, resource: str) -> Subscription:
        secret = secrets.token_hex(32)
        hook = await create_webhook(rep, self.target_url, resource, secret)
        sub = Subscription(webhook_id=str(hook.id), team_id=rep.team_id, rep_email=rep.rep_email,
                           resource=resource, secret=secret)
        await self._store.save(sub)
        log.info("webhook subscribed team=%s rep=%s resource=%s webhook=%s", rep.team_id, rep.rep_email,
                 resource, hook.id)
        return sub

    async def _delete_orphans(self, rep: RepSession, user_id: int, ours: list[Resource], report: SyncReport
                              ) -> None:
        known = set((await self._store.webhook_ids(rep.team_id, rep.rep_email)).values())
        for hook in ours:
            webhook_id = str(hook.id)
            if webhook_id in known or hook.related_id("authorizer") != user_id:
                continue
            if any(team == rep.team_id for team, _ in await self._store.owners(webhook_id)):
                continue  # another rep's subscription in this team
            if await delete_webhook(rep, webhook_id):
                report.orphans_deleted.append(webhook_id)

    async def unsubscribe(self, team_id: str, rep_email: str, within: float) -> int:
        """Forget the rep's subscriptions here at once, then delete them in Outreach, best effort, within
        `within` seconds (deliveries to a forgotten subscription get 401 meanwhile)."""
        ids = await self._store.remove_rep(team_id, rep_email)
        if not ids:
            return 0
        rep = self._client.for_rep(team_id, rep_email)
        try:
            async with asyncio.timeout(within):
                results = await asyncio.gather(*(delete_webhook(rep, webhook_id) for webhook_id in ids.values()),
                                               return_exceptions=True)
        except TimeoutError:
            log.warning("webhook deletion timed out team=%s rep=%s", team_id, rep_email)
            return 0
        deleted = sum(1 for result in results if result is True)
        failures = [type(r).__name__ for r in results if isinstance(r, BaseException)]
        if failures:
            log.warning("webhook deletion failed team=%s rep=%s errors=%s", team_id, rep_email,
                        ",".join(sorted(set(failures))))
        return deleted


def has_scope(scopes: list[str]) -> bool:
    """Unknown scopes (an empty list) are given the benefit of the doubt: Outreach will answer 403 if not."""
    return not scopes or SCOPE in scopes

