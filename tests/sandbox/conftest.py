"""One sandbox server for the session; each test starts from a freshly reset and seeded demo org."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from sandbox import RunningSandbox, start_sandbox_in_thread
from sandbox.client import SandboxControl
from tests.support import conformance

JSONAPI = "application/vnd.api+json"


@pytest.fixture(scope="session")
def running() -> Iterator[RunningSandbox]:
    server = start_sandbox_in_thread(audit=True)
    conformance.watch(server.sandbox)
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def control(running: RunningSandbox, http: aiohttp.ClientSession) -> SandboxControl:
    ctl = SandboxControl(running.base_url, http)
    await ctl.reset()
    await ctl.seed()
    return ctl


class Api:
    """A tiny Outreach API client bound to one access token."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": JSONAPI, **extra}

    async def request(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any, Any]:
        url = path if path.startswith("http") else f"{self.base}{path}"
        async with self.http.request(method, url, json=body, params=params or None, headers=self.headers()) as r:
            text = await r.text()
            payload = await r.json(content_type=None) if text and r.content_type == JSONAPI else text
            return r.status, payload, r.headers

    async def get(self, path: str, **params: str) -> Any:
        status, body, _ = await self.request("GET", path, **params)
        assert status == 200, body
        return body


@pytest.fixture
async def ana(control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession) -> Api:
    token = await control.connect("ana@acme.com")
    return Api(http, running.api_url, token["access_token"])


def call_body(**attributes: Any) -> dict[str, Any]:
    attrs = {
        "direction": "outbound",
        "outcome": "Answered",
        "to": "+14155551234",
        "vendorCallId": "call_1",
        **attributes,
    }
    return {
        "data": {
            "type": "call",
            "attributes": attrs,
            "relationships": {"prospect": {"data": {"type": "prospect", "id": 3456}}},
        }
    }
