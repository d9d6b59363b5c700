"""Webhook subscriptions in Outreach (`/webhooks`, scope `webhooks.all`): the calls, and keeping one set (one
subscription per resource) held by one rep's token. Which rep holds a team's set is decided in
`outreach/team_webhooks.py`; this module makes one authorizer's set whole.

`SetSync.sync` makes Outreach hold exactly one active subscription per resource for the rep, targeting
`{PUBLIC_BASE_URL}/v1/outreach/webhooks`, each with its own random secret (stored encrypted):
- a stored subscription that Outreach still has, active → kept;
- one Outreach disabled (`active` false, `disabledReason`) → deleted and created afresh (new secret);
- one Outreach deleted → created afresh;
- one in Outreach with our URL that nobody here knows (a crash between create and save, a lost Redis, a set
  whose move was cut short) and that a user of the team authorized → deleted (its secret is unknown: it could
  never be verified).
Callers hold the team's lock (`store/keys.webhook_team_lock`), so concurrent syncs never create duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

from outreach import api
from outreach.client import OutreachClient, RepSession
from outreach.documents import parse
from outreach.errors import NotFound
from schemas.outreach import Resource, Single
from schemas.outreach_webhooks import SUBSCRIBED_RESOURCES
from store.subscriptions import Subscription, SubscriptionStore

log = logging.getLogger("outreach.webhooks")

SCOPE = "webhooks.all"


async def team_webhooks(rep: RepSession, target_url: str, ids: set[str], authorizers: set[int]) -> list[Resource]:
    """The webhooks to our URL that concern this team: the ones we stored (`ids`), each read by id, and, to find
    orphans, those a user of the team authorized. Stored ones are never looked for in the org's list: a big org's
    is longer than a read may take, and a stored subscription missing from a cut list looked gone and was created
    again on every run. The orphan scan is best effort (`partial`): an orphan beyond the page limit can deliver
    nothing we accept (its secret is unknown), and is left. Matches are kept page by page: an org may list many
    webhooks, and keeping all of them for each of many syncs at once held a lot of memory (docs/tuning.md)."""
    stored = await asyncio.gather(*(api.get_one(rep, "webhooks", int(webhook_id))
                                    for webhook_id in sorted(ids) if webhook_id.isascii() and webhook_id.isdigit()))
    found = {hook.id: hook for hook in stored if hook is not None}
    async for hook in api.iterate(rep, "webhooks", {}, partial=True):
        if hook.id not in found and hook.related_id("authorizer") in authorizers:
            found[hook.id] = hook
    return [hook for hook in found.values() if hook.attributes.get("url") == target_url]


async def create_webhook(rep: RepSession, url: str, resource: str, secret: str, action: str = "*",
                         *, active: bool = True) -> Resource:
    document = await rep.post("/webhooks", body={"data": {"type": "webhook", "attributes": {
        "url": url, "resource": resource, "action": action, "secret": secret, "active": active}}})
    return parse(Single, document).data


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


class SetSync:
    """Makes one rep's set whole: one active subscription per resource (callers hold the team's lock)."""

    def __init__(self, client: OutreachClient, store: SubscriptionStore, target_url: str) -> None:
        self._client = client
        self._store = store
        self.target_url = target_url

    async def sync(self, team_id: str, rep_email: str, authorizers: set[int]) -> SyncReport:
        """`authorizers`: the Outreach user ids of the team's reps (whose unknown webhooks are orphans)."""
        rep = self._client.for_rep(team_id, rep_email)
        report = SyncReport()
        stored = await self._store.for_rep(team_id, rep_email)
        stored_ids = await self._store.webhook_ids(team_id, rep_email)
        ours = await team_webhooks(rep, self.target_url, set(stored_ids.values()), authorizers)
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
        await self._delete_orphans(rep, authorizers, ours, report)
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

    async def _delete_orphans(self, rep: RepSession, authorizers: set[int], ours: list[Resource],
                              report: SyncReport) -> None:
        for hook in ours:
            webhook_id = str(hook.id)
            if hook.related_id("authorizer") not in authorizers:
                continue
            # Stored by anyone (another rep of this team during a move, or a team of another org whose ids
            # collide): not an orphan. Leaking a real orphan is better than deleting a live subscription.
            if await self._store.owners(webhook_id):
                continue
            if await delete_webhook(rep, webhook_id):
                report.orphans_deleted.append(webhook_id)


def has_scope(scopes: list[str]) -> bool:
    """Unknown scopes (an empty list) are given the benefit of the doubt: Outreach will answer 403 if not."""
    return not scopes or SCOPE in scopes
