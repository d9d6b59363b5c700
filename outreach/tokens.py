"""Access tokens for a rep, refreshed ahead of expiry and on a 401, single-flight across all processes.

Outreach may answer 429 to a second token mint within 60 s, and a refresh may rotate the refresh token, so
exactly one process refreshes at a time: it takes a Redis lock, re-reads the stored tokens (another process
may have refreshed meanwhile) and only then asks Outreach.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
from redis.asyncio import Redis

from outreach import oauth
from outreach.errors import NotConnected, OAuthRefused, ReconnectRequired
from schemas.connection import ConnectionStatus, TokenSet
from schemas.settings import Settings
from store import keys
from store.connections import ConnectionStore
from store.locks import Lock

log = logging.getLogger("outreach.tokens")

REFRESH_AHEAD_SECONDS = 300
LOCK_TTL_MS = 30_000
WAIT_FOR_PEER_SECONDS = 25.0

# (team id, rep email) of a rep whose tokens Outreach refused.
NeedsReconnectHook = Callable[[str, str], Awaitable[None]]


class TokenManager:
    def __init__(self, redis: Redis, connections: ConnectionStore, session: aiohttp.ClientSession,
                 settings: Settings, *, on_needs_reconnect: NeedsReconnectHook | None = None) -> None:
        self._redis = redis
        self._connections = connections
        self._session = session
        self._settings = settings
        # Told when a rep's tokens stop working (the team's webhook set may have to move:
        # outreach/team_webhooks.py `hand_over_on_reconnect`).
        self._on_needs_reconnect = on_needs_reconnect

    async def access_token(self, team_id: str, rep_email: str, known: TokenSet | None = None) -> str:
        """A usable access token; `known` is the stored set when the caller has just read it."""
        tokens = known if known is not None else await self._stored(team_id, rep_email)
        if tokens.expires_at - time.time() > REFRESH_AHEAD_SECONDS:
            return tokens.access_token
        return (await self.refresh(team_id, rep_email, stale=tokens.access_token)).access_token

    async def refresh(self, team_id: str, rep_email: str, *, stale: str) -> TokenSet:
        """Make sure the stored access token is not `stale` (nor near expiry), refreshing at most once."""
        return await self._refresh(team_id, rep_email, lambda current: _fresh(current, stale))

    async def renew(self, team_id: str, rep_email: str, *, issued_at: float) -> TokenSet:
        """The keep-alive (workers/token_keepalive.py): a new refresh token for the one issued at `issued_at`,
        unless another refresh has replaced it meanwhile. Single-flight with every other refresh."""
        return await self._refresh(team_id, rep_email, lambda current: current.issued_at != issued_at)

    async def _refresh(self, team_id: str, rep_email: str, needless: Callable[[TokenSet], bool]) -> TokenSet:
        """Refresh under the rep's lock unless `needless` says the stored tokens will do (another process may
        have refreshed meanwhile). The result is stored only if the stored tokens are still those refreshed: a
        refresh that ends after the rep disconnected or reconnected writes nothing back."""
        lock = Lock(self._redis, keys.refresh_lock(team_id, rep_email), LOCK_TTL_MS)
        seen: list[TokenSet] = []

        async def refreshed_by_peer() -> bool:
            seen[:] = [await self._stored(team_id, rep_email)]
            return needless(seen[0])

        if not await lock.acquire(wait=WAIT_FOR_PEER_SECONDS, unless=refreshed_by_peer):
            if seen and needless(seen[0]):
                return seen[0]
            raise ReconnectRequired("token refresh is stuck behind another process")
        try:
            sealed = await self._connections.sealed(team_id, rep_email)
            current = self._connections.unseal(sealed) or await self._stored(team_id, rep_email)
            if sealed is None or needless(current):
                return current
            try:
                renewed = await oauth.refresh(self._session, self._settings, current)
            except OAuthRefused:
                await self._connections.mark_needs_reconnect(team_id, rep_email, refused=current.refresh_token)
                await self._tell_needs_reconnect(team_id, rep_email)
                raise ReconnectRequired("Outreach refused the refresh token; the rep must reconnect") from None
            if not await self._connections.replace_tokens(team_id, rep_email, sealed, renewed):
                log.info("refreshed tokens not stored: the rep disconnected or reconnected meanwhile team=%s rep=%s",
                         team_id, rep_email)
                return await self._stored(team_id, rep_email)
            return renewed
        finally:
            await lock.release()

    async def give_up(self, team_id: str, rep_email: str) -> None:
        """Outreach refuses even fresh tokens (access revoked): only reconnecting helps."""
        await self._connections.mark_needs_reconnect(team_id, rep_email)
        await self._tell_needs_reconnect(team_id, rep_email)

    async def _tell_needs_reconnect(self, team_id: str, rep_email: str) -> None:
        if self._on_needs_reconnect is None:
            return
        try:
            await self._on_needs_reconnect(team_id, rep_email)
        except Exception as failed:  # the caller's answer (reconnect required) matters more
            log.warning("needs-reconnect hook failed team=%s rep=%s error=%s", team_id, rep_email,
                        type(failed).__name__)

    async def _stored(self, team_id: str, rep_email: str) -> TokenSet:
        tokens = await self._connections.tokens(team_id, rep_email)
        if tokens is not None:
            return tokens
        status = await self._connections.status(team_id, rep_email)
        if status is ConnectionStatus.NOT_CONNECTED:
            raise NotConnected("the rep has not connected Outreach")
        raise ReconnectRequired("the rep must reconnect Outreach")


def _fresh(tokens: TokenSet, stale: str) -> bool:
    return tokens.access_token != stale and tokens.expires_at - time.time() > REFRESH_AHEAD_SECONDS
