"""Per-rep OAuth connections: status, scopes and encrypted tokens."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from schemas.connection import ConnectionStatus, TokenSet
from store import keys
from store.crypto import FieldSwap, TokenCipher
from store.pages import zpage

# KEYS: connection hash, all reps, the team's reps, teams, refresh schedule. ARGV: "team\trep", rep email, team
# id. A team leaves the list of teams with its last rep, in one step with it.
_FORGET = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('ZCARD', KEYS[3]) == 0 then redis.call('ZREM', KEYS[4], ARGV[3]) end
return 1
"""

# Replace a rep's tokens only if the stored ones are still those a refresh started from: a refresh that ends after
# the rep disconnected (the hash is gone) or reconnected (other tokens) must not write the old connection back.
# KEYS: connection hash, CONNECTIONS, REFRESH_ISSUED. ARGV: expected sealed tokens, member, issued_at, then the
# hash's field/value pairs.
_REPLACE_TOKENS = """
if redis.call('HGET', KEYS[1], 'tokens') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""


class ConnectionStore:
    def __init__(self, redis: Redis, cipher: TokenCipher) -> None:
        self._redis = redis
        self._cipher = cipher
        self._replace = redis.register_script(_REPLACE_TOKENS)
        self._forget = redis.register_script(_FORGET)

    def _fields(self, tokens: TokenSet) -> dict[str, str | bytes]:
        return {
            "tokens": self._cipher.encrypt(tokens.model_dump_json().encode()),
            "status": ConnectionStatus.CONNECTED.value,
            "scopes": " ".join(tokens.scopes),
            "expires_at": str(int(tokens.expires_at)),  # when the access token expires: shown on /ops
            "updated_at": str(int(time.time())),
        }

    async def save_tokens(self, team_id: str, rep_email: str, tokens: TokenSet) -> None:
        """Store a consent's fresh tokens and mark the rep connected."""
        member = keys.rep_member(team_id, rep_email)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.connection(team_id, rep_email), mapping=self._fields(tokens))
            pipe.zadd(keys.CONNECTIONS, {member: 0})
            pipe.zadd(keys.team_reps(team_id), {rep_email: 0})
            pipe.zadd(keys.TEAMS, {team_id: 0})
            pipe.zadd(keys.REFRESH_ISSUED, {member: tokens.issued_at})
            await pipe.execute()

    async def replace_tokens(self, team_id: str, rep_email: str, sealed: bytes, tokens: TokenSet) -> bool:
        """Store refreshed tokens if the stored ones are still `sealed` (what the refresh started from)."""
        pairs = [item for field in self._fields(tokens).items() for item in field]
        return bool(await self._replace(
            keys=[keys.connection(team_id, rep_email), keys.CONNECTIONS, keys.REFRESH_ISSUED],
            args=[sealed, keys.rep_member(team_id, rep_email), tokens.issued_at, *pairs]))

    async def tokens(self, team_id: str, rep_email: str) -> TokenSet | None:
        return self.unseal(await self.sealed(team_id, rep_email))

    async def sealed(self, team_id: str, rep_email: str) -> bytes | None:
        """The stored tokens as stored (encrypted): what `replace_tokens` compares with."""
        blob: bytes | None = await self._redis.hget(keys.connection(team_id, rep_email), "tokens")
        return blob

    async def refresh_tokens_issued(self, before: float, limit: int) -> list[tuple[str, str, float]]:
        """(team, rep, issued_at) of stored refresh tokens issued before `before`, oldest first."""
        found = await self._redis.zrangebyscore(keys.REFRESH_ISSUED, "-inf", before, start=0, num=limit,
                                                withscores=True)
        return [(*keys.split_member(member.decode()), float(issued)) for member, issued in found]

    async def schedule_unscheduled(self) -> int:
        """Put connections stored before refresh tokens' issue times were kept into the keep-alive's schedule, as
        issued when their tokens were last saved (at the latest); answers how many."""
        added = 0
        for team_id, rep_email in await self.connected_reps():
            member = keys.rep_member(team_id, rep_email)
            tokens, saved = await self._redis.hmget(keys.connection(team_id, rep_email), ["tokens", "updated_at"])
            if tokens is not None and saved is not None:
                added += await self._redis.zadd(keys.REFRESH_ISSUED, {member: float(saved)}, nx=True)
        return added

    async def oldest_refresh_token(self) -> float | None:
        """When the oldest stored refresh token was issued (epoch seconds); None when none is stored."""
        found = await self._redis.zrange(keys.REFRESH_ISSUED, 0, 0, withscores=True)
        return float(found[0][1]) if found else None

    def unseal(self, blob: bytes | None) -> TokenSet | None:
        """Stored tokens, decrypted (None when absent or unreadable with the current keys)."""
        if blob is None:
            return None
        plain = self._cipher.decrypt(blob)
        return TokenSet.model_validate_json(plain) if plain is not None else None

    async def status(self, team_id: str, rep_email: str) -> ConnectionStatus:
        raw = await self._redis.hget(keys.connection(team_id, rep_email), "status")
        return ConnectionStatus(raw.decode()) if raw else ConnectionStatus.NOT_CONNECTED

    async def scopes(self, team_id: str, rep_email: str) -> list[str]:
        raw = await self._redis.hget(keys.connection(team_id, rep_email), "scopes")
        return raw.decode().split() if raw else []

    async def mark_needs_reconnect(self, team_id: str, rep_email: str, *, refused: str | None = None) -> None:
        """Drop the (now useless) tokens but remember the rep was connected.

        With `refused` (the refresh token Outreach just refused), nothing happens if the stored one is
        different by now or gone: the rep reconnected meanwhile and the new tokens must survive, or disconnected
        and nothing may be written back.
        """
        key = keys.connection(team_id, rep_email)
        if refused is not None:
            current = await self.tokens(team_id, rep_email)
            if current is None or current.refresh_token != refused:
                return  # reconnected meanwhile (new tokens must survive), or disconnected (nothing to mark)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": ConnectionStatus.NEEDS_RECONNECT.value,
                                    "updated_at": str(int(time.time()))})
            pipe.hdel(key, "tokens")
            pipe.zrem(keys.REFRESH_ISSUED, keys.rep_member(team_id, rep_email))
            await pipe.execute()

    async def delete(self, team_id: str, rep_email: str) -> None:
        await self._forget(keys=[keys.connection(team_id, rep_email), keys.CONNECTIONS, keys.team_reps(team_id),
                                 keys.TEAMS, keys.REFRESH_ISSUED],
                           args=[keys.rep_member(team_id, rep_email), rep_email, team_id])

    async def connected_reps(self) -> list[tuple[str, str]]:
        """Every rep with a stored connection, by team then email: for crons, never for a page."""
        return [keys.split_member(m.decode()) for m in await self._redis.zrange(keys.CONNECTIONS, 0, -1)]

    async def page(self, offset: int, limit: int) -> tuple[list[tuple[str, str]], int]:
        """A page of reps with a stored connection (by team then email) and how many there are."""
        members, total = await zpage(self._redis, keys.CONNECTIONS, offset, limit)
        return [keys.split_member(member) for member in members], total

    async def teams(self, offset: int, limit: int) -> tuple[list[str], int]:
        """A page of teams with a stored connection, by name, and how many there are."""
        return await zpage(self._redis, keys.TEAMS, offset, limit)

    async def team_members(self, team_id: str) -> list[str]:
        """The team's reps with a stored connection, by email."""
        return [m.decode() for m in await self._redis.zrange(keys.team_reps(team_id), 0, -1)]

    async def team_size(self, team_id: str) -> int:
        return int(await self._redis.zcard(keys.team_reps(team_id)))

    async def ensure_indexed(self) -> int:
        """Fold the set of connected reps kept before these indexes existed (an upgrade) into them, once;
        answers how many reps were indexed."""
        members = [m.decode() for m in await self._redis.smembers(keys.LEGACY_CONNECTIONS)]
        if not members:
            return 0
        async with self._redis.pipeline(transaction=True) as pipe:
            for member in members:
                team_id, rep_email = keys.split_member(member)
                pipe.zadd(keys.CONNECTIONS, {member: 0})
                pipe.zadd(keys.team_reps(team_id), {rep_email: 0})
                pipe.zadd(keys.TEAMS, {team_id: 0})
            pipe.delete(keys.LEGACY_CONNECTIONS)
            await pipe.execute()
        return len(members)

    async def not_under_first_key(self) -> int:
        """How many stored token sets are not sealed with the first key."""
        count = 0
        for team_id, rep_email in await self.connected_reps():
            blob = await self._redis.hget(keys.connection(team_id, rep_email), "tokens")
            count += blob is not None and not self._cipher.under_first_key(blob)
        return count

    async def rotate_encryption(self) -> int:
        """Re-encrypt every stored token with the first key, so old keys can be retired. A token refreshed
        meanwhile is left as the refresh wrote it (already under the first key), never overwritten."""
        swap, count = FieldSwap(self._redis), 0
        for team_id, rep_email in await self.connected_reps():
            key = keys.connection(team_id, rep_email)
            blob = await self._redis.hget(key, "tokens")
            rotated = self._cipher.rotate(blob) if blob is not None else None
            if blob is not None and rotated is not None and await swap(key, "tokens", blob, rotated):
                count += 1
        return count
