from __future__ import annotations

import time

import aiohttp

from sandbox import RunningSandbox
from sandbox.client import SandboxControl

from .conftest import Api


async def test_missing_and_expired_tokens_get_plain_text_401(
    ana: Api, control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{running.api_url}/users") as r:
        assert r.status == 401 and r.content_type == "text/plain" and await r.text() == "Invalid access token"
    assert (await ana.request("GET", "/users"))[0] == 200
    assert await control.expire_tokens("ana@acme.com") == 1
    status, body, headers = await ana.request("GET", "/users")
    assert status == 401 and body == "Invalid access token" and headers["Content-Type"].startswith("text/plain")


async def test_revoke_kills_refresh_tokens(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    tokens = await control.connect("ana@acme.com")
    assert await control.revoke_tokens(user_id=1) == 2
    form = {
        "grant_type": "refresh_token",
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "redirect_uri": "http://x",
        "refresh_token": tokens["refresh_token"],
    }
    async with http.post(f"{running.base_url}/oauth/token", data=form) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_grant"


async def test_missing_scope_is_403(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    tokens = await control.connect("ana@acme.com", scope="users.all tasks.read")
    api = Api(http, running.api_url, tokens["access_token"])
    assert (await api.request("GET", "/tasks"))[0] == 200
    status, body, _ = await api.request("GET", "/calls")
    assert status == 403 and body["errors"][0]["id"] == "unauthorizedOauthScope"
    status, body, _ = await api.request("POST", "/tasks/1122/actions/markComplete")
    assert status == 403


async def test_rate_limit_per_user(ana: Api, control: SandboxControl) -> None:
    await control.faults(rate_limit=3, rate_window_s=60)
    remaining = []
    for _ in range(3):
        status, _, headers = await ana.request("GET", "/users")
        assert status == 200 and headers["X-RateLimit-Limit"] == "3"
        remaining.append(int(headers["X-RateLimit-Remaining"]))
        assert int(headers["X-RateLimit-Reset"]) > time.time()
    assert remaining == [2, 1, 0]
    status, body, headers = await ana.request("GET", "/users")
    assert status == 429 and body["errors"][0]["id"] == "rateLimitExceeded"
    assert 1 <= int(headers["Retry-After"]) <= 60 and headers["X-RateLimit-Remaining"] == "0"
    assert (await control.state())["rate_limit_usage"] == {"1": 3}
