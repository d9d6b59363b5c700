from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import aiohttp

from sandbox import RunningSandbox
from sandbox.client import SandboxControl

CLIENT = {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret", "redirect_uri": "http://x/cb"}


async def authorize(http: aiohttp.ClientSession, base: str, **params: str) -> tuple[int, dict[str, list[str]]]:
    query = {
        "client_id": "sandbox-client-id",
        "redirect_uri": "http://x/cb",
        "response_type": "code",
        "scope": "users.all tasks.all",
        "state": "st4te",
        **params,
    }
    async with http.get(f"{base}/oauth/authorize", params=query, allow_redirects=False) as r:
        return r.status, parse_qs(urlsplit(r.headers.get("Location", "")).query)


async def token(http: aiohttp.ClientSession, base: str, **form: str) -> tuple[int, dict[str, object]]:
    async with http.post(f"{base}/oauth/token", data={**CLIENT, **form}) as r:
        return r.status, await r.json()


async def test_code_flow_and_refresh_rotation(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    status, query = await authorize(http, running.base_url, login_email="ben@acme.com")
    assert status == 302 and query["state"] == ["st4te"]
    code = query["code"][0]
    status, body = await token(http, running.base_url, grant_type="authorization_code", code=code)
    assert status == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200 and body["scope"] == "users.all tasks.all"

    status, again = await token(http, running.base_url, grant_type="authorization_code", code=code)
    assert status == 400 and again["error"] == "invalid_grant"  # codes are single use

    first_refresh = str(body["refresh_token"])
    status, refreshed = await token(http, running.base_url, grant_type="refresh_token", refresh_token=first_refresh)
    assert status == 200 and refreshed["refresh_token"] != first_refresh
    status, reused = await token(http, running.base_url, grant_type="refresh_token", refresh_token=first_refresh)
    assert status == 400 and reused["error"] == "invalid_grant" and "error_description" in reused

    async with http.get(
        f"{running.api_url}/users", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    ) as r:
        assert r.status == 200
    assert (await control.state())["token_mints"] == {"2": 2}


async def test_omit_refresh_token_keeps_old_one_valid(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    first = await control.connect("ana@acme.com")
    await control.faults(omit_refresh_token=True)
    for _ in range(2):
        status, body = await token(
            http, running.base_url, grant_type="refresh_token", refresh_token=first["refresh_token"]
        )
        assert status == 200 and "refresh_token" not in body


async def test_bad_client_deny_and_unknown_client(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    status, body = await token(http, running.base_url, grant_type="authorization_code", code="x", client_secret="wrong")
    assert status == 401 and body == {"error": "invalid_client"}
    status, query = await authorize(http, running.base_url, deny="1")
    assert status == 302 and query["error"] == ["access_denied"] and query["state"] == ["st4te"]
    await control.login(deny=True)
    status, query = await authorize(http, running.base_url)
    assert query["error"] == ["access_denied"]
    status, _ = await authorize(http, running.base_url, client_id="nope")
    assert status == 400


async def test_login_via_control_and_mint_limit(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    await control.login("cleo@acme.com")
    await control.faults(token_mint_limit_per_minute=1)
    _, query = await authorize(http, running.base_url)
    status, body = await token(http, running.base_url, grant_type="authorization_code", code=query["code"][0])
    assert status == 200
    status, _ = await token(
        http, running.base_url, grant_type="refresh_token", refresh_token=str(body["refresh_token"])
    )
    assert status == 429
    assert (await control.state())["token_mints"] == {"3": 1}


async def test_each_org_answers_only_with_its_own_records(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    """Like Outreach, user ids are per org: a token reads the org of the user who granted it, nothing else."""
    other = await control.add_org([{"id": 1, "email": "zed@globex.example", "firstName": "Zed", "lastName": "Z"},
                                   {"id": 2, "email": "ana@acme.com", "firstName": "Ana", "lastName": "Other"}])
    await control.login(org=other)
    status, query = await authorize(http, running.base_url, login_email="ana@acme.com")
    assert status == 302
    status, body = await token(http, running.base_url, grant_type="authorization_code", code=query["code"][0])
    assert status == 200
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with http.get(f"{running.base_url}/api/v2/users", headers=headers) as r:
        users = (await r.json())["data"]
    assert [(u["id"], u["attributes"]["email"]) for u in users] == [(1, "zed@globex.example"), (2, "ana@acme.com")]
    async with http.get(f"{running.base_url}/api/v2/users/3", headers=headers) as r:
        assert r.status == 404  # the demo org's Cleo
    await control.login()
    status, query = await authorize(http, running.base_url, login_email="ana@acme.com")
    status, body = await token(http, running.base_url, grant_type="authorization_code", code=query["code"][0])
    async with http.get(f"{running.base_url}/api/v2/users/1",
                        headers={"Authorization": f"Bearer {body['access_token']}"}) as r:
        assert (await r.json())["data"]["attributes"]["email"] == "ana@acme.com"
    await control.reset()
    assert (await control.state())["orgs"] == ["5b0a3c1e-7f42-4d8e-9a6b-2c1d0e9f8a71"]


async def test_a_refresh_token_expires_after_its_lifetime(
    control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    await control.faults(refresh_token_lifetime_s=0.3)
    status, query = await authorize(http, running.base_url, login_email="ben@acme.com")
    status, body = await token(http, running.base_url, grant_type="authorization_code", code=query["code"][0])
    status, renewed = await token(http, running.base_url, grant_type="refresh_token",
                                  refresh_token=str(body["refresh_token"]))
    assert status == 200  # within its lifetime; the new one lives as long again
    await asyncio.sleep(0.35)
    status, refused = await token(http, running.base_url, grant_type="refresh_token",
                                  refresh_token=str(renewed["refresh_token"]))
    assert (status, refused["error"]) == (400, "invalid_grant")
