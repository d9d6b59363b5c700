"""The Outreach REST client: one aiohttp session per process, each request with the rep's own token.

It owns the awkward parts of the API: the JSON:API media type, a plain-text 401 on an expired token (refresh
once, then retry), 429 with `Retry-After`, 5xx and dropped connections, and error bodies that may quote
record values (never surfaced: only status, error id and pointer are).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import orjson
from pydantic import ValidationError

from outreach.budget import RateBudget
from outreach.errors import NotFound, OutreachRejected, OutreachUnavailable, RateLimited, ReconnectRequired
from outreach.oauth import seconds
from outreach.quick_retry import retried
from outreach.tokens import TokenManager
from schemas.connection import TokenSet
from schemas.outreach import ErrorDocument
from store.telemetry import OUTREACH_REQUEST, Telemetry

MEDIA_TYPE = "application/vnd.api+json"
# Names this service to Outreach (and to the sandbox, whose tests check every request carrying it against
# Outreach's contract: tests/support/conformance.py).
USER_AGENT = "nooks-outreach-sync/1"
REQUEST_TIMEOUT_SECONDS = 15.0
_TIMEOUT = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)

Params = dict[str, str | int]
Document = dict[str, Any]
T = TypeVar("T")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class OutreachClient:
    """Process-wide: holds the session, the token manager and the rate budgets."""

    def __init__(self, session: aiohttp.ClientSession, tokens: TokenManager, api_url: str,
                 budget: RateBudget | None = None, telemetry: Telemetry | None = None) -> None:
        self.session = session
        self.telemetry = telemetry
        self.tokens = tokens
        self.api_url = api_url.rstrip("/")
        self.budget = budget or RateBudget()

    def for_rep(self, team_id: str, rep_email: str, tokens: TokenSet | None = None) -> RepSession:
        """`tokens`: the rep's stored tokens, when the caller has just read them (saves reading them again)."""
        return RepSession(self, team_id, rep_email, tokens)

    def with_tokens(self, team_id: str, rep_email: str, tokens: TokenSet) -> RepSession:
        """Requests with tokens that are not stored (a consent being checked): never refreshed, and a 401 changes
        nothing in the store."""
        return RepSession(self, team_id, rep_email, tokens, pinned=True)


class RepSession:
    """Requests on behalf of one rep, for one job or request (short-lived: tokens are refreshed 5 min ahead)."""

    def __init__(self, client: OutreachClient, team_id: str, rep_email: str, tokens: TokenSet | None = None,
                 *, pinned: bool = False) -> None:
        self._client = client
        self.team_id = team_id
        self.rep_email = rep_email
        self._rep_key = f"{team_id}\t{rep_email}"
        # The stored token is read and decrypted once per session, not once per request (docs/benchmarks.md).
        self._token: asyncio.Future[str] | None = None
        self._known = tokens
        self._pinned = tokens.access_token if pinned and tokens is not None else None

    async def _access_token(self) -> str:
        if self._pinned is not None:
            return self._pinned
        if self._token is None:
            known, self._known = self._known, None  # used once: a failed read asks the store next time
            self._token = asyncio.ensure_future(self._client.tokens.access_token(self.team_id, self.rep_email, known))
        try:
            return await asyncio.shield(self._token)
        except Exception:
            self._token = None  # a failed read is not remembered: the next request asks again
            raise

    async def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: dict[str, Any] | None = None, params: Params | None = None
                   ) -> dict[str, Any]:
        return await self.request("POST", path, params=params, body=body)

    async def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=body)

    async def delete(self, path: str) -> dict[str, Any]:
        return await self.request("DELETE", path)

    async def get_url(self, url: str) -> dict[str, Any]:
        """Follow a `links.next` URL, but only on the configured Outreach host."""
        if not url.startswith(self._client.api_url + "/"):
            raise OutreachUnavailable("Outreach pagination link points elsewhere")
        return await self.request("GET", url[len(self._client.api_url):])

    async def request(self, method: str, path: str, *, params: Params | None = None,
                      body: dict[str, Any] | None = None, idempotent: bool | None = None) -> dict[str, Any]:
        """One request, tried again quickly on a transient failure when that is safe (outreach/quick_retry.py).

        `idempotent`: whether sending it twice does no harm; by default HTTP's answer for the method.
        """
        return await retried(lambda: self._request_once(method, path, params, body),
                             idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent)

    async def write_once(self, method: str, path: str, *, body: dict[str, Any] | None, read: Callable[[Document], T],
                         done: Callable[[], Awaitable[T | None]], params: Params | None = None) -> T:
        """A write that must happen once, its answer read by `read`. After an answer lost on the way back it is
        sent again only once `done()` (the caller's done-check: the result when Outreach has it, else None) says
        Outreach does not have it (outreach/quick_retry.py). `params`: a member action's `actionParams[..]`."""
        async def attempt() -> T:
            return read(await self._request_once(method, path, params, body))
        return await retried(attempt, idempotent=False, done=done)

    async def _request_once(self, method: str, path: str, params: Params | None, body: dict[str, Any] | None
                            ) -> dict[str, Any]:
        token = await self._access_token()
        status, headers, payload = await self._send(method, path, params, body, token)
        if status == 401 and self._pinned is not None:
            raise ReconnectRequired("Outreach refused the new token")
        # Expired or revoked: refresh (single-flight) and try again. Twice, because the first "fresh" token may be
        # one another process stored a moment ago that Outreach has since expired too; only a token we saw
        # refused twice running means the rep must reconnect.
        for _ in range(2):
            if status != 401:
                break
            fresh = await self._client.tokens.refresh(self.team_id, self.rep_email, stale=token)
            token = fresh.access_token
            self._token = asyncio.get_running_loop().create_future()
            self._token.set_result(token)
            status, headers, payload = await self._send(method, path, params, body, token)
        if status == 401:
            await self._client.tokens.give_up(self.team_id, self.rep_email)
            raise ReconnectRequired("Outreach refused a freshly refreshed token")
        return self._interpret(status, headers, payload)

    async def _send(self, method: str, path: str, params: Params | None, body: dict[str, Any] | None,
                    token: str) -> tuple[int, Mapping[str, str], bytes]:
        budget = self._client.budget
        await budget.acquire(self._rep_key)
        headers_seen: Mapping[str, str] | None = None
        started, status = time.monotonic(), "error"
        try:
            async with self._client.session.request(
                method,
                f"{self._client.api_url}/{path.lstrip('/')}",  # paths are ours; get_url checks links
                params=params,
                data=orjson.dumps(body) if body is not None else None,
                headers={"Authorization": f"Bearer {token}", "Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE,
                         "User-Agent": USER_AGENT},
                timeout=_TIMEOUT,
                allow_redirects=False,  # a redirect would carry the token (or a 307, the body) elsewhere
            ) as response:
                payload = await response.read()
                headers_seen = response.headers  # case-insensitive, as HTTP header names are
                status = str(response.status)
                return response.status, headers_seen, payload
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            # No connection, so nothing was sent: safe to send again, whatever the request.
            raise OutreachUnavailable(f"Outreach unreachable ({type(error).__name__})", sent=False) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise OutreachUnavailable(f"Outreach unreachable ({type(error).__name__})") from None
        finally:
            budget.release(self._rep_key, headers_seen)
            if self._client.telemetry is not None:
                self._client.telemetry.observe(OUTREACH_REQUEST, time.monotonic() - started,
                                               (operation(method, path), status))

    def _interpret(self, status: int, headers: Mapping[str, str], payload: bytes) -> dict[str, Any]:
        if status == 429:
            retry_after = seconds(headers.get("Retry-After"), default=_until_reset(headers))
            self._client.budget.exhausted(self._rep_key, retry_after)
            raise RateLimited(retry_after)
        if 300 <= status < 400:
            raise OutreachUnavailable(f"Outreach answered {status}; redirects are not followed with a token")
        if status >= 500:
            retry = headers.get("Retry-After")
            raise OutreachUnavailable(f"Outreach answered {status}", seconds(retry, 0) if retry else None)
        if status >= 400:
            error_id, pointer = _first_error(payload)
            kind = NotFound if status == 404 else OutreachRejected
            raise kind(status, error_id, pointer)
        if not payload:
            return {}
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise OutreachUnavailable(f"Outreach answered {status} with a body that is not JSON") from None
        return data if isinstance(data, dict) else {}


def operation(method: str, path: str) -> str:
    """A request's operation for metrics: ids replaced, query dropped (`GET /tasks/{id}`, `POST /calls`)."""
    parts = [("{id}" if part.isdigit() else part) for part in path.split("?")[0].strip("/").split("/")]
    return f"{method} /{'/'.join(parts)}"


def _first_error(payload: bytes) -> tuple[str | None, str | None]:
    try:
        errors = ErrorDocument.model_validate_json(payload).errors
    except ValidationError:
        return None, None
    if not errors:
        return None, None
    error_id = errors[0].id if errors[0].id and errors[0].id.isidentifier() else None
    return error_id, errors[0].pointer


def _until_reset(headers: Mapping[str, str]) -> float:
    try:
        reset = float(headers.get("X-RateLimit-Reset", "0"))
    except ValueError:
        return 60.0
    return max(reset - time.time(), 1.0) if reset > 1e9 else max(reset, 1.0)
