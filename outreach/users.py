"""The team's Outreach users, reduced on read to the only fields we may keep: id, email, name.

The whole directory is read once, on the team's first connect; afterwards only users updated since the last
read (`filter[updatedAt]=<cursor>..inf`), by the periodic sync (workers/user_sync.py), with `user.*` webhooks in
between. A reconnect reads a sample of the team's users (`sample_org`), in one request, to check the org. A
directory of 100,000 users is read once, not on every reconnect.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from outreach import api
from outreach.client import RepSession
from schemas.connection import OutreachUser
from schemas.outreach import Resource
from schemas.times import outreach_time
from store import keys
from store.users import UserDirectory

# The next read starts this long before the previous one did: a user updated while it ran, or stamped by a clock
# a little behind ours, is read again rather than missed (a few users read twice; the upsert is idempotent).
CURSOR_OVERLAP = timedelta(minutes=5)


def as_user(resource: Resource) -> OutreachUser | None:
    attributes = resource.attributes
    email = attributes.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    name = attributes.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [attributes.get("firstName"), attributes.get("lastName")]
        name = " ".join(p for p in parts if isinstance(p, str) and p).strip() or email
    return OutreachUser(id=resource.id, email=email.lower(), name=name)


async def fetch_users(rep: RepSession, updated_since: str | None = None) -> list[OutreachUser]:
    users = []
    async for resource in api.list_users(rep, updated_since):
        user = as_user(resource)
        if user is not None:
            users.append(user)
    return users


async def fetch_user(rep: RepSession, user_id: int) -> OutreachUser | None:
    resource = await api.get_one(rep, "users", user_id)
    return as_user(resource) if resource is not None else None


@dataclass(frozen=True)
class UserRead:
    """What one sync read: the users changed since the last one, or (`staged`) the whole directory, kept aside
    page by page so a 100,000-user org is never held in memory; `owner`: the user asked for, when read."""

    changed: list[OutreachUser]
    staged: str | None
    cursor: str  # where the next read starts
    owner: OutreachUser | None


async def read_users(rep: RepSession, directory: UserDirectory, team_id: str, since: str | None,
                     owner_id: int | None = None) -> UserRead:
    """The whole directory when `since` is None (the team's first connect), else only what changed since.
    Nothing becomes the team's until `store_users`; `drop_users` forgets a read that will not be kept."""
    cursor = outreach_time(datetime.now(UTC) - CURSOR_OVERLAP)
    if since is not None:
        changed = await fetch_users(rep, since)
        return UserRead(changed, None, cursor, next((u for u in changed if u.id == owner_id), None))
    staged, page, owner = keys.users_staged(team_id, secrets.token_hex(8)), [], None
    try:
        async for resource in api.list_users(rep):
            user = as_user(resource)
            if user is None:
                continue
            owner = user if user.id == owner_id else owner
            page.append(user)
            if len(page) >= api.MAX_PAGE_SIZE:
                await directory.stage_users(staged, page)
                page = []
        await directory.stage_users(staged, page)
    except BaseException:
        await directory.drop_staged(staged)
        raise
    return UserRead([], staged, cursor, owner)


# Known users read back with a new token on a reconnect: enough that another org sharing some ids and emails
# cannot pass, few enough for one request (`filter[id]` of a few hundred ids stays a short URL).
ORG_SAMPLE_SIZE = 200


@dataclass(frozen=True)
class OrgSample:
    """A bound team's reconnect: how many of a sample of the team's users the new token reads with the same id
    and email, and the signed-in user as that token reads it."""

    matched: int
    sampled: int
    owner: OutreachUser | None

    def agrees(self) -> bool:
        """(Nearly) all of them: an org's users change email now and then before the next sync sees it."""
        return self.sampled > 0 and 10 * self.matched >= 9 * self.sampled


async def sample_org(rep: RepSession, directory: UserDirectory, team_id: str, owner_id: int) -> OrgSample:
    """Read the signed-in user and up to ORG_SAMPLE_SIZE of the team's users with `rep`'s token: one request."""
    known = await directory.sample_users(team_id, ORG_SAMPLE_SIZE)
    read = {user.id: user for user in map(as_user, await api.users_by_id(rep, sorted({*known, owner_id})))
            if user is not None}
    matched = sum(read[i].email == user.email for i, user in known.items() if i in read)
    return OrgSample(matched, len(known), read.get(owner_id))


async def store_users(directory: UserDirectory, team_id: str, read: UserRead) -> None:
    if read.staged is not None:
        await directory.replace_users(team_id, read.staged, read.cursor)
    else:
        await directory.upsert_users(team_id, read.changed, read.cursor)


async def drop_users(directory: UserDirectory, read: UserRead) -> None:
    if read.staged is not None:
        await directory.drop_staged(read.staged)
