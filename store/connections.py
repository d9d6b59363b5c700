"""Per-rep OAuth connections: status, scopes and encrypted tokens."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from schemas.connection import ConnectionStatus, TokenSet
from store import keys
from store.crypto import FieldSwap, TokenCipher


class ConnectionStore:
    def __init__(self, redis: Redis, cipher: TokenCipher) -> None:
        self._redis = redis
        self._cipher = cipher

    async def save_tokens(self, team_id: str, rep_email: str, tokens: TokenSet) -> None:
        """Store fresh tokens and mark the rep connected."""
        blob = self._cipher.encrypt(tokens.model_dump_json().encode())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.connection(team_id, rep_email), mapping={
                "tokens": blob,
                "status": ConnectionStatus.CONNECTED.value,
                "scopes": " ".join(tokens.scopes),
                "expires_at": str(int(tokens.expires_at)),  # when the access token expires: shown on /ops
                "updated_at": str(int(time.time())),
            })
            pipe.sadd(keys.CONNECTIONS, keys.rep_member(team_id, rep_email))
            await pipe.execute()

    async def tokens(self, team_id: str, rep_email: str) -> TokenSet | None:
        return self.unseal(await self._redis.hget(keys.connection(team_id, rep_email), "tokens"))

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
        different by now: the rep reconnected meanwhile and the new tokens must survive.
        """
        key = keys.connection(team_id, rep_email)
        if refused is not None:
            current = await self.tokens(team_id, rep_email)
            if current is not None and current.refresh_token != refused:
                return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": ConnectionStatus.NEEDS_RECONNECT.value,
                                    "updated_at": str(int(time.time()))})
            pipe.hdel(key, "tokens")
            await pipe.execute()

    async def delete(self, team_id: str, rep_email: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.connection(team_id, rep_email))
            pipe.srem(keys.CONNECTIONS, keys.rep_member(team_id, rep_email))
            await pipe.execute()

    async def connected_reps(self) -> list[tuple[str, str]]:
        members = await self._redis.smembers(keys.CONNECTIONS)
        return sorted(keys.split_member(m.decode()) for m in members)

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
