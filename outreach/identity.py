"""Whose token is this? The Outreach user behind a freshly granted token, confirmed before anything is stored.

Outreach documents no "who am I" endpoint. A webhook subscription's `creator` relationship is read-only and
always names the user whose token created it (`webhookRelationships` in Outreach's OpenAPI), so the probe
creates an inactive subscription (it never delivers), reads its `creator` and deletes it again. It stands alone:
which subscriptions a team keeps is decided elsewhere (outreach/webhooks.py), so identity never depends on them.
"""

from __future__ import annotations

import logging
import secrets

from outreach.client import RepSession
from outreach.errors import OutreachError
from outreach.webhooks import create_webhook, delete_webhook

log = logging.getLogger("outreach.identity")

PROBE_RESOURCE = "user"


class IdentityUnknown(OutreachError):
    """Outreach answered, but named no creator: the token's user cannot be confirmed."""


async def token_owner(rep: RepSession, target_url: str) -> int:
    """The Outreach user id the session's token belongs to. Whatever the probe created is deleted again."""
    hook = await create_webhook(rep, target_url, PROBE_RESOURCE, secrets.token_hex(32), active=False)
    try:
        creator = hook.related_id("creator")
    finally:
        try:
            await delete_webhook(rep, str(hook.id))
        except OutreachError as failed:  # inactive, it delivers nothing; the subscription repair deletes it later
            log.warning("identity probe webhook %s not deleted: %s", hook.id, failed)
    if creator is None:
        raise IdentityUnknown("Outreach named no creator for the identity probe")
    return creator
