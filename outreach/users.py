"""The team's Outreach users, reduced on read to the only fields we may keep: id, email, name."""

from __future__ import annotations

from outreach import api
from outreach.client import RepSession
from schemas.connection import OutreachUser
from schemas.outreach import Resource


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


async def fetch_users(rep: RepSession) -> list[OutreachUser]:
    users = []
    async for resource in api.list_users(rep):
        user = as_user(resource)
        if user is not None:
            users.append(user)
    return users


async def fetch_user(rep: RepSession, user_id: int) -> OutreachUser | None:
    resource = await api.get_one(rep, "users", user_id)
    return as_user(resource) if resource is not None else None
