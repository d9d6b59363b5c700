"""OAuth grants, access and refresh tokens, and the per-user mint counters tests look at."""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .knobs import Knobs

CODE_LIFETIME_S = 600
DEFAULT_SCOPES = (
    "users.all calls.all accounts.all webhooks.all teams.all prospects.all mailboxes.all phoneNumbers.all "
    "callDispositions.all callPurposes.all events.all tasks.all mailings.all sequences.all sequenceTemplates.all "
    "sequenceSteps.all sequenceStates.all opportunities.all"
)


@dataclass(slots=True)
class Grant:
    user_id: int
    client_id: str
    scope: str
    redirect_uri: str = ""
    expires_at: float = 0.0  # codes, access tokens and refresh tokens (`refresh_token_lifetime_s` after issue)
    org: str = ""  # the org of the user who granted it ("" = the default org)


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.retry_after = status, error, description, retry_after


class Tokens:
    def __init__(self, knobs: Knobs, clients: dict[str, str]) -> None:
        self.knobs = knobs
        self.clients = clients
        self.clear()

    def clear(self) -> None:
        self.codes: dict[str, Grant] = {}
        self.access: dict[str, Grant] = {}
        self.refresh: dict[str, Grant] = {}
        self.mints: dict[int | str, int] = {}  # by user id (by "org:user id" outside the default org)
        self._recent: dict[int | str, deque[float]] = {}
        self.login: dict[str, Any] = {}  # set by POST /_sandbox/login: email, user_id, org, deny

    def check_client(self, client_id: str, secret: str | None = None) -> bool:
        expected = self.clients.get(client_id)
        return expected is not None and (secret is None or secrets.compare_digest(expected, secret))

    def issue_code(self, user_id: int, client_id: str, redirect_uri: str, scope: str, org: str = "") -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(user_id, client_id, scope, redirect_uri, time.time() + CODE_LIFETIME_S, org)
        return code

    def exchange_code(self, client_id: str, code: str, redirect_uri: str) -> dict[str, Any]:
        grant = self.codes.get(code)
        if grant is None or grant.expires_at < time.time():
            raise OAuthError(400, "invalid_grant", "The authorization code is invalid, expired or already used.")
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            raise OAuthError(400, "invalid_grant", "The redirect_uri or client does not match the authorization.")
        self._check_mint_budget(grant)
        del self.codes[code]  # single use
        return self._mint(grant, with_refresh=True)

    def exchange_refresh(self, client_id: str, refresh_token: str) -> dict[str, Any]:
        grant = self.refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id or grant.expires_at < time.time():
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid, expired, revoked or already used.")
        self._check_mint_budget(grant)
        rotate = not self.knobs.omit_refresh_token
        if rotate:
            del self.refresh[refresh_token]
        return self._mint(grant, with_refresh=rotate)

    def user_of(self, access_token: str) -> Grant | None:
        grant = self.access.get(access_token)
        return grant if grant is not None and grant.expires_at > time.time() else None

    def expire_user(self, user_id: int, org: str = "") -> int:
        hits = [g for g in self.access.values() if g.user_id == user_id and g.org == org]
        for grant in hits:
            grant.expires_at = 0.0
        return len(hits)

    def revoke_user(self, user_id: int, org: str = "") -> int:
        before = len(self.access) + len(self.refresh)
        self.access = {t: g for t, g in self.access.items() if (g.user_id, g.org) != (user_id, org)}
        self.refresh = {t: g for t, g in self.refresh.items() if (g.user_id, g.org) != (user_id, org)}
        return before - len(self.access) - len(self.refresh)

    @staticmethod
    def _minter(grant: Grant) -> int | str:
        return f"{grant.org}:{grant.user_id}" if grant.org else grant.user_id

    def _check_mint_budget(self, grant: Grant) -> None:
        limit = self.knobs.token_mint_limit_per_minute
        recent = self._recent.setdefault(self._minter(grant), deque())
        now = time.time()
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if limit is not None and len(recent) >= limit:
            retry = max(1, int(recent[0] + 60 - now) + 1)
            raise OAuthError(429, "rate_limited", "Too many tokens minted for this user.", retry)

    def _mint(self, grant: Grant, *, with_refresh: bool) -> dict[str, Any]:
        now = time.time()
        lifetime = self.knobs.token_lifetime_s
        access = secrets.token_urlsafe(32)
        self.access[access] = Grant(grant.user_id, grant.client_id, grant.scope, expires_at=now + lifetime,
                                    org=grant.org)
        minter = self._minter(grant)
        self.mints[minter] = self.mints.get(minter, 0) + 1
        self._recent.setdefault(minter, deque()).append(now)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": lifetime}
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self.refresh[refresh] = Grant(grant.user_id, grant.client_id, grant.scope,
                                          expires_at=now + self.knobs.refresh_token_lifetime_s, org=grant.org)
            body["refresh_token"] = refresh
        body.update(scope=grant.scope, created_at=int(now))
        return body
