"""Drive the running service only through HTTP, as Nooks, a rep's browser and an operator would."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import aiohttp
from redis.asyncio import Redis

from sandbox.client import SandboxControl
from schemas.settings import Settings
from store import keys
from store.telemetry import Telemetry
from tests.support.nooks import call_event, signed

T = TypeVar("T")
OPS_READONLY = ("viewer", "viewer-password-for-tests")  # sees /ops, acts on nothing
METRICS_TOKEN = "metrics-scraper-token-for-tests"


@dataclass
class Service:
    base_url: str
    settings: Settings
    redis: Redis
    http: aiohttp.ClientSession
    sandbox: SandboxControl
    api_token: str
    ops: tuple[str, str]

    # --- Nooks events -------------------------------------------------------------------------------
    async def post_event(self, event: dict[str, Any] | bytes, **sign: Any) -> tuple[int, Any]:
        body, headers = signed(event, **sign)
        return await self.post_raw(body, headers)

    async def post_raw(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        async with self.http.post(f"{self.base_url}/v1/nooks/events", data=body, headers=headers) as response:
            return response.status, await _json(response)

    # --- the Nooks app's API ------------------------------------------------------------------------
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self.bearer(), **kwargs.pop("headers", {})}
        async with self.http.request(method, f"{self.base_url}{path}", headers=headers, **kwargs) as response:
            return response.status, await _json(response)

    async def connection(self, team_id: str, rep_email: str) -> dict[str, Any]:
        status, body = await self.api("GET", f"/v1/teams/{team_id}/reps/{rep_email}/connection")
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def connect(self, team_id: str = "team_acme", rep_email: str = "ana@acme.com",
                      login_email: str | None = None, deny: bool = False) -> tuple[int, str]:
        """The whole consent dance: connect link → /start → Outreach authorize → our callback."""
        status, link = await self.api("POST", f"/v1/teams/{team_id}/reps/{rep_email}/connect-link")
        assert status == 200, link
        async with self.http.get(link["url"], allow_redirects=False) as start:
            assert start.status == 302, await start.text()
            authorize = start.headers["Location"]
            browser = browser_cookie(start)
        extra = {"login_email": login_email or rep_email}
        if deny:
            extra["deny"] = "1"
        async with self.http.get(_with_query(authorize, extra), allow_redirects=False) as consent:
            assert consent.status == 302, await consent.text()
            callback = consent.headers["Location"]
        async with self.http.get(callback, allow_redirects=False, headers=browser) as done:
            return done.status, await done.text()

    async def users_cursor(self, team_id: str = "team_acme") -> str | None:
        raw = await self.redis.get(keys.users_synced(team_id))
        return raw.decode() if raw else None

    # --- operators ---------------------------------------------------------------------------------
    def basic(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.ops[0]}:{self.ops[1]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def metrics(self) -> str:
        """`GET /metrics` as a Prometheus scraper with METRICS_TOKEN."""
        async with self.http.get(f"{self.base_url}/metrics",
                                 headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as response:
            assert response.status == 200, response.status
            return await response.text()

    async def ops_api(self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None) -> tuple[int, Any]:
        """An operator's request (their Basic credentials unless `auth` names others)."""
        credentials = self.basic() if auth is None else {
            "Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()}
        async with self.http.request(method, f"{self.base_url}{path}", json=json,
                                     headers={**credentials, **(headers or {})}) as response:
            return response.status, await _json(response)

    async def dead_letter(self, call_id: str, **data: Any) -> dict[str, Any]:
        """A connected rep's event whose call Outreach refuses once (422): it is dead-lettered, and a retry logs it."""
        await self.sandbox.fail_next("/api/v2/calls", method="POST", status=422)
        event = call_event(call_id, **data)
        assert (await self.post_event(event))[0] == 202

        async def dead() -> bool:
            letters = (await self.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"]
            return any(letter["event_id"] == event["id"] for letter in letters)

        await eventually(dead)
        return event

    # --- figures (store/telemetry.py: each process writes its own within a quarter second) -------------------
    async def figures(self, **at_least: int) -> dict[str, int]:
        """Every figure's total, once each one named has reached its least value (all written, for a process that
        counts them after the rest)."""
        async def reached() -> dict[str, int] | None:
            totals = await Telemetry(self.redis).totals()
            return totals if all(totals.get(name, 0) >= least for name, least in at_least.items()) else None
        if not at_least:
            return await Telemetry(self.redis).totals()
        return await eventually(reached)

    # --- Outreach, as seen in the sandbox -----------------------------------------------------------
    async def calls(self, vendor_call_id: str | None = None) -> list[dict[str, Any]]:
        calls = await self.sandbox.records("call")
        if vendor_call_id is None:
            return calls
        return [c for c in calls if c["attributes"].get("vendorCallId") == vendor_call_id]

    async def task_state(self, task_id: int) -> str:
        for task in await self.sandbox.records("task"):
            if int(task["id"]) == task_id:
                return str(task["attributes"]["state"])
        raise AssertionError(f"no task {task_id}")


def browser_cookie(start: aiohttp.ClientResponse) -> dict[str, str]:
    """The `Cookie` header the rep's browser sends back to the callback: what `/start` set, per flow (one shared jar
    would let concurrent flows overwrite each other's cookie, as two browsers never do)."""
    return {"Cookie": "; ".join(f"{name}={morsel.value}" for name, morsel in start.cookies.items())}


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll until `probe` returns something truthy (or raise with its last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


async def _json(response: aiohttp.ClientResponse) -> Any:
    if response.content_type == "application/json":
        return await response.json()
    return await response.text()


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(extra)
    return urlunparse(parts._replace(query=urlencode(query)))
