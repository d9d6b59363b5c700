"""Single-use connect links and OAuth `state` values, both bound to a team and a rep, both 10 minutes."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import orjson
from redis.asyncio import Redis

from store import keys

LINK_TTL_SECONDS = 600


class LinkStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def mint_link(self, team_id: str, rep_email: str) -> str:
        return await self._mint(keys.connect_link, team_id, rep_email)

    async def use_link(self, nonce: str) -> tuple[str, str] | None:
        return await self._use(keys.connect_link, nonce)

    async def mint_state(self, team_id: str, rep_email: str) -> str:
        return await self._mint(keys.oauth_state, team_id, rep_email)

    async def use_state(self, nonce: str) -> tuple[str, str] | None:
        return await self._use(keys.oauth_state, nonce)

    async def _mint(self, key: Callable[[str], str], team_id: str, rep_email: str) -> str:
        nonce = secrets.token_urlsafe(32)
        value = orjson.dumps({"team_id": team_id, "rep_email": rep_email})
        await self._redis.set(key(nonce), value, ex=LINK_TTL_SECONDS)
        return nonce

    async def _use(self, key: Callable[[str], str], nonce: str) -> tuple[str, str] | None:
        """Consume (GETDEL: a second use finds nothing)."""
        if not nonce or len(nonce) > 128:
            return None
        raw = await self._redis.getdel(key(nonce))
        if raw is None:
            return None
        data = orjson.loads(raw)
        return str(data["team_id"]), str(data["rep_email"])
