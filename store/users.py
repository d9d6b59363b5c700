"""The team's Outreach users (id, email, name), the org binding (the user whose consent bound the team to its
Outreach org) and the User Mapping (rep email → Outreach user id).

The mapping is also kept the other way round (Outreach user id → rep emails, ids and emails only), changed in
the same script as the mapping, so finding the reps of a record's owner costs the same in an org of 100 users
as in one of 100,000: per-event paths never read the directory.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.connection import OutreachUser, UserMappingEntry
from store import keys

SCAN_BATCH = 500
STAGED_TTL_SECONDS = 600  # a directory read whose connect never finished (the process died) goes by itself

# KEYS: mapping hash. ARGV: rep email, new user id, owner-set key prefix. 1 when the mapping changed.
_MAP = """
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if previous and previous ~= ARGV[2] then redis.call('SREM', ARGV[3] .. previous, ARGV[1]) end
redis.call('SADD', ARGV[3] .. ARGV[2], ARGV[1])
if previous == ARGV[2] then return 0 end
return 1
"""


# KEYS: the team's users, the staged directory, the sync cursor. ARGV: the cursor.
_REPLACE = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[1])
  redis.call('PERSIST', KEYS[1])
end
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""


class UserDirectory:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._map = redis.register_script(_MAP)
        self._replace = redis.register_script(_REPLACE)

    async def stage_users(self, staged: str, users: list[OutreachUser]) -> None:
        """One page of a whole directory being read, kept aside (see `keys.users_staged`)."""
        if users:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(staged, mapping={str(u.id): u.model_dump_json() for u in users})
                pipe.expire(staged, STAGED_TTL_SECONDS)
                await pipe.execute()

    async def replace_users(self, team_id: str, staged: str, synced_to: str) -> None:
        """The whole directory read into `staged` becomes the team's users, in one step."""
        await self._replace(keys=[keys.users(team_id), staged, keys.users_synced(team_id)], args=[synced_to])

    async def staged_has(self, staged: str, user: OutreachUser) -> bool:
        """Is this (id, email) pair among a staged read?"""
        raw = await self._redis.hget(staged, str(user.id))
        return raw is not None and OutreachUser.model_validate_json(raw).email == user.email

    async def shared_with_staged(self, team_id: str, staged: str) -> tuple[int, int]:
        """(how many of the team's users are in a staged read with the same id and email, how many users the
        team has): compared SCAN_BATCH at a time, never the whole directory in memory."""
        shared = known = 0
        batch: list[tuple[bytes, bytes]] = []
        async for pair in self._redis.hscan_iter(keys.users(team_id), count=SCAN_BATCH):
            batch.append(pair)
            if len(batch) >= SCAN_BATCH:
                shared += await self._shared(staged, batch)
                known, batch = known + len(batch), []
        shared += await self._shared(staged, batch)
        return shared, known + len(batch)

    async def _shared(self, staged: str, batch: list[tuple[bytes, bytes]]) -> int:
        if not batch:
            return 0
        theirs = await self._redis.hmget(staged, [user_id for user_id, _ in batch])
        return sum(other is not None and OutreachUser.model_validate_json(other).email
                   == OutreachUser.model_validate_json(mine).email for (_, mine), other in zip(batch, theirs,
                                                                                              strict=True))

    async def drop_staged(self, staged: str) -> None:
        await self._redis.delete(staged)

    async def upsert_users(self, team_id: str, users: list[OutreachUser], synced_to: str | None = None) -> None:
        """Users changed since the last sync (or one a `user.*` webhook named)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            if users:
                pipe.hset(keys.users(team_id), mapping={str(u.id): u.model_dump_json() for u in users})
            self._mark_synced(pipe, team_id, synced_to)
            await pipe.execute()

    @staticmethod
    def _mark_synced(pipe: Pipeline, team_id: str, synced_to: str | None) -> None:
        if synced_to is not None:
            pipe.set(keys.users_synced(team_id), synced_to)

    async def synced_to(self, team_id: str) -> str | None:
        """Where the next read of changed users starts; None when the whole directory must be read (the team's
        first connect, or its users were dropped since)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.users_synced(team_id))
            pipe.exists(keys.users(team_id))
            raw, present = await pipe.execute()
        return raw.decode() if raw and present else None

    async def user(self, team_id: str, user_id: int) -> OutreachUser | None:
        raw = await self._redis.hget(keys.users(team_id), str(user_id))
        return OutreachUser.model_validate_json(raw) if raw else None

    async def sample_users(self, team_id: str, count: int) -> dict[int, OutreachUser]:
        """Up to `count` distinct users of the team, chosen at random (HRANDFIELD: one read, whatever the size)."""
        raw = await self._redis.hrandfield(keys.users(team_id), count, withvalues=True)
        pairs = zip(raw[::2], raw[1::2], strict=True)
        return {int(k): OutreachUser.model_validate_json(v) for k, v in pairs}

    async def user_count(self, team_id: str) -> int:
        return int(await self._redis.hlen(keys.users(team_id)))

    async def users(self, team_id: str) -> dict[int, OutreachUser]:
        """The whole directory: for the Nooks app's mapping screen only, never on a per-event path."""
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
        await self._redis.delete(keys.users(team_id), keys.users_synced(team_id), keys.org_binding(team_id))

    async def _some(self, team_id: str, user_ids: Iterable[int]) -> dict[int, OutreachUser]:
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        raw = await self._redis.hmget(keys.users(team_id), [str(i) for i in wanted])
        return {i: OutreachUser.model_validate_json(v) for i, v in zip(wanted, raw, strict=True) if v}

    async def map_rep(self, team_id: str, rep_email: str, user_id: int) -> bool:
        """Map a rep; True when the mapping changed."""
        return bool(await self._map(keys=[keys.mapping(team_id)],
                                    args=[rep_email, str(user_id), keys.owner_reps(team_id, "")]))

    async def mapped_user_id(self, team_id: str, rep_email: str) -> int | None:
        raw = await self._redis.hget(keys.mapping(team_id), rep_email)
        return int(raw) if raw else None

    async def reps_of(self, team_id: str, user_ids: Iterable[int]) -> set[str]:
        """The reps mapped to any of these Outreach users: one read of the index, whatever the org's size."""
        names = [keys.owner_reps(team_id, user_id) for user_id in set(user_ids)]
        if not names:
            return set()
        return {member.decode() for member in await self._redis.sunion(names)}

    async def mappings(self, team_id: str) -> list[UserMappingEntry]:
        """The team's User Mapping with each mapped user's email and name (read for those users only)."""
        raw = {rep.decode(): int(uid) for rep, uid in (await self._redis.hgetall(keys.mapping(team_id))).items()}
        users = await self._some(team_id, raw.values())
        entries = []
        for rep, uid in sorted(raw.items()):
            user = users.get(uid)
            entries.append(UserMappingEntry(rep_email=rep, outreach_user_id=uid,
                                            email=user.email if user else None, name=user.name if user else None))
        return entries

    async def ensure_owner_index(self) -> int:
        """Index User Mappings written before the owner index existed (an upgrade), once per deployment; answers
        how many reps were indexed. Walks the mapping keys with SCAN, once, at start."""
        if await self._redis.exists(keys.OWNER_INDEX_BUILT):
            return 0
        indexed = 0
        async for key in self._redis.scan_iter(match=keys.mapping("*"), count=SCAN_BATCH):
            team_id = key.decode().removeprefix(keys.mapping(""))
            async with self._redis.pipeline(transaction=False) as pipe:
                for rep, uid in (await self._redis.hgetall(key)).items():
                    pipe.sadd(keys.owner_reps(team_id, uid.decode()), rep)
                indexed += sum(await pipe.execute())
        await self._redis.set(keys.OWNER_INDEX_BUILT, "1")
        return indexed
