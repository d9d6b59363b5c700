"""Single-use connect links and OAuth `state` values, both bound to a team and a rep, both 10 minutes.

A state is also bound to the browser that opened the link: `/start` gives that browser a random secret in a
cookie and the state keeps only its SHA-256, so a callback from any other browser finds no match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from store import keys

LINK_TTL_SECONDS = 600


class WrongBrowser(Exception):
    """The state exists but was issued to another browser; it stays usable by the right one."""


def browser_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LinkStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def mint_link(self, team_id: str, rep_email: str) -> str:
        return await self._mint(keys.connect_link, team_id, rep_email)

    async def use_link(self, nonce: str) -> tuple[str, str] | None:
        return await self._use(keys.connect_link, nonce)

    async def mint_state(self, team_id: str, rep_email: str, browser_secret: str) -> str:
        return await self._mint(keys.oauth_state, team_id, rep_email, browser=browser_hash(browser_secret))

    async def use_state(self, nonce: str, browser_secret: str) -> tuple[str, str] | None:
        """Consume a state presented by the browser holding `browser_secret`; raises WrongBrowser (consuming
        nothing) when it was issued to another one."""
        if not nonce or len(nonce) > 128:
            return None
        raw = await self._redis.get(keys.oauth_state(nonce))
        if raw is None:
            return None
        if not hmac.compare_digest(str(orjson.loads(raw).get("browser", "")), browser_hash(browser_secret)):
            raise WrongBrowser
        return await self._use(keys.oauth_state, nonce)

    async def _mint(self, key: Callable[[str], str], team_id: str, rep_email: str, **extra: Any) -> str:
        nonce = secrets.token_urlsafe(32)
        value = orjson.dumps({"team_id": team_id, "rep_email": rep_email, **extra})
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
