"""The team's Outreach users (id, email, name), the org binding (the user whose consent bound the team to its
Outreach org) and the User Mapping (rep email → Outreach user id)."""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.connection import OutreachUser, UserMappingEntry
from store import keys


class UserDirectory:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def replace_users(self, team_id: str, users: list[OutreachUser]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.users(team_id))
            if users:
                pipe.hset(keys.users(team_id), mapping={str(u.id): u.model_dump_json() for u in users})
            await pipe.execute()

    async def upsert_user(self, team_id: str, user: OutreachUser) -> None:
        await self._redis.hset(keys.users(team_id), str(user.id), user.model_dump_json())

    async def users(self, team_id: str) -> dict[int, OutreachUser]:
        raw = await self._redis.hgetall(keys.users(team_id))
        return {int(k): OutreachUser.model_validate_json(v) for k, v in raw.items()}

    async def bind_org(self, team_id: str, first: OutreachUser) -> bool:
        """Bind an unbound team to the org of `first`'s consent; False when it was bound already (by a consent
        that got here first)."""
        return bool(await self._redis.set(keys.org_binding(team_id), first.model_dump_json(), nx=True))

    async def org_binding(self, team_id: str) -> OutreachUser | None:
        raw = await self._redis.get(keys.org_binding(team_id))
        return OutreachUser.model_validate_json(raw) if raw else None

    async def forget_org(self, team_id: str) -> None:
        """The team's last rep disconnected: its Outreach users and org binding go (the next consent reads and
        binds them again); the User Mapping, the team's own settings, stays."""
        await self._redis.delete(keys.users(team_id), keys.org_binding(team_id))

    async def map_rep(self, team_id: str, rep_email: str, user_id: int) -> bool:
        """Map a rep; True when the mapping changed."""
        previous = await self._redis.hget(keys.mapping(team_id), rep_email)
        await self._redis.hset(keys.mapping(team_id), rep_email, str(user_id))
        return previous is None or int(previous) != user_id

    async def mapped_user_id(self, team_id: str, rep_email: str) -> int | None:
        raw = await self._redis.hget(keys.mapping(team_id), rep_email)
        return int(raw) if raw else None

    async def mappings(self, team_id: str) -> list[UserMappingEntry]:
        raw = await self._redis.hgetall(keys.mapping(team_id))
        users = await self.users(team_id)
        entries = []
        for rep, uid in sorted(raw.items()):
            user = users.get(int(uid))
            entries.append(UserMappingEntry(
                rep_email=rep.decode(), outreach_user_id=int(uid),
                email=user.email if user else None, name=user.name if user else None,
            ))
        return entries
