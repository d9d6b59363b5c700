"""`SandboxControl`: a small async client for the /_sandbox control API, for tests and demos."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from .core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


class SandboxControl:
    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owned = session is None

    async def __aenter__(self) -> SandboxControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        async with self._http().request(method, f"{self.base_url}/_sandbox{path}", json=body, params=query) as r:
            if r.status >= 400:
                raise RuntimeError(f"sandbox control {method} {path}: {r.status} {await r.text()}")
            return None if r.status == 204 else await r.json()

    # -- state -------------------------------------------------------------------------------------------
    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def seed(self, *, demo: bool = True, reps: int | None = None, prospects_per_rep: int | None = None,
                   users: int | None = None) -> Any:
        body: dict[str, Any] = {"demo": demo}
        if reps:
            body.update(reps=reps, prospects_per_rep=prospects_per_rep or 10)
        if users:
            body["users"] = users
        return await self._call("POST", "/seed", body)

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/state")
        return result

    # -- records -----------------------------------------------------------------------------------------
    async def records(self, type_: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._call("GET", f"/records/{type_}"))["data"]
        return result

    async def record(self, type_: str, id_: int) -> dict[str, Any]:
        result: dict[str, Any] = (await self._call("GET", f"/records/{type_}/{id_}"))["data"]
        return result

    async def create(
        self,
        type_: str,
        attributes: dict[str, Any] | None = None,
        relationships: dict[str, int | None] | None = None,
        id_: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": attributes or {}, "relationships": relationships or {}}
        if id_ is not None:
            body["id"] = id_
        result: dict[str, Any] = (await self._call("POST", f"/records/{type_}", body))["data"]
        return result

    async def update(
        self,
        type_: str,
        id_: int,
        attributes: dict[str, Any] | None = None,
        relationships: dict[str, int | None] | None = None,
    ) -> dict[str, Any]:
        body = {"attributes": attributes or {}, "relationships": relationships or {}}
        result: dict[str, Any] = (await self._call("PATCH", f"/records/{type_}/{id_}", body))["data"]
        return result

    async def delete(self, type_: str, id_: int) -> None:
        await self._call("DELETE", f"/records/{type_}/{id_}")

    # -- knobs and faults --------------------------------------------------------------------------------
    async def faults(self, **knobs: Any) -> dict[str, Any]:
        """Merge knobs, e.g. `faults(latency_ms=50, fail_next=[{"path": "/api/v2/calls", "status": 503}])`."""
        result: dict[str, Any] = await self._call("POST", "/faults", knobs)
        return result

    async def fail_next(self, path: str, **rule: Any) -> None:
        current = (await self._call("GET", "/faults"))["fail_next"]
        await self._call("POST", "/faults", {"fail_next": [*current, {"path": path, **rule}]})

    # -- logs --------------------------------------------------------------------------------------------
    async def requests(self, path_prefix: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._call("GET", "/requests", path_prefix=path_prefix, limit=limit))[
            "requests"
        ]
        return result

    async def clear_requests(self) -> None:
        await self._call("DELETE", "/requests")

    async def deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._call("GET", "/deliveries"))["deliveries"]
        return result

    async def clear_deliveries(self) -> None:
        await self._call("DELETE", "/deliveries")

    async def wait_deliveries(self, within: float = 10.0) -> list[dict[str, Any]]:
        """Wait until no delivery is in flight, then return the log."""
        deadline = time.monotonic() + within
        while True:
            body = await self._call("GET", "/deliveries")
            if body["pending"] == 0 or time.monotonic() > deadline:
                result: list[dict[str, Any]] = body["deliveries"]
                return result
            await asyncio.sleep(0.02)

    # -- OAuth and tokens --------------------------------------------------------------------------------
    async def add_org(self, users: list[dict[str, Any]]) -> str:
        """Another org holding these users (`{"id", "email", "firstName", "lastName"}`); answers its id."""
        result: str = (await self._call("POST", "/orgs", {"users": users}))["org"]
        return result

    async def login(self, email: str | None = None, *, user_id: int | None = None, deny: bool = False,
                    org: str | None = None) -> None:
        """Who the next consent signs in as (in `org`, else the demo org)."""
        await self._call("POST", "/login", {"email": email, "user_id": user_id, "deny": deny, "org": org})

    async def expire_tokens(self, email: str | None = None, *, user_id: int | None = None) -> int:
        result: int = (await self._call("POST", "/tokens/expire", {"email": email, "user_id": user_id}))["expired"]
        return result

    async def revoke_tokens(self, email: str | None = None, *, user_id: int | None = None) -> int:
        result: int = (await self._call("POST", "/tokens/revoke", {"email": email, "user_id": user_id}))["revoked"]
        return result

    async def disable_webhook(self, webhook_id: int, reason: str = "Disabled by the sandbox") -> dict[str, Any]:
        result: dict[str, Any] = (await self._call("POST", f"/webhooks/{webhook_id}/disable", {"reason": reason}))[
            "data"
        ]
        return result

    async def own_records_only(self, email: str | None = None, *, user_id: int | None = None,
                               own_only: bool = True) -> list[int]:
        """Restrict (or, with `own_only=False`, free) what a user reads and what its webhooks deliver."""
        body = {"email": email, "user_id": user_id, "own_only": own_only}
        result: list[int] = (await self._call("POST", "/visibility", body))["own_records_only"]
        return result

    async def connect(
        self,
        email: str,
        *,
        scope: str | None = None,
        redirect_uri: str = "http://127.0.0.1/callback",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
    ) -> dict[str, Any]:
        """Run the whole authorization-code flow as `email`; returns the token response."""
        params = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "state": "s",
            "login_email": email,
        }
        if scope:
            params["scope"] = scope
        url = f"{self.base_url}/oauth/authorize?{urlencode(params)}"
        async with self._http().get(url, allow_redirects=False) as r:
            if r.status != 302:
                raise RuntimeError(f"authorize: {r.status} {await r.text()}")
            code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        async with self._http().post(f"{self.base_url}/oauth/token", data=form) as r:
            if r.status != 200:
                raise RuntimeError(f"token: {r.status} {await r.text()}")
            result: dict[str, Any] = await r.json()
            return result
