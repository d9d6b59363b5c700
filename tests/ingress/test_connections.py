"""Connecting a rep over OAuth, the connection status, disconnecting, and what is stored (encrypted)."""

from __future__ import annotations

from store import keys
from tests.support.service import Service


async def test_connect_link_needs_the_bearer_token(svc: Service) -> None:
    async with svc.http.post(f"{svc.base_url}/v1/teams/team_acme/reps/ana@acme.com/connect-link") as r:
        assert r.status == 401
    async with svc.http.post(f"{svc.base_url}/v1/teams/team_acme/reps/ana@acme.com/connect-link",
                             headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401
    status, body = await svc.api("POST", "/v1/teams/team%20x/reps/ana@acme.com/connect-link")
    assert status == 422
    status, body = await svc.api("POST", "/v1/teams/team_acme/reps/not-an-email/connect-link")
    assert status == 422


async def test_connect_maps_the_rep_and_syncs_users(svc: Service) -> None:
    assert await svc.connection("team_acme", "ana@acme.com") == {
        "status": "not_connected", "outreach_user_id": None, "scopes": [], "parked_events": 0}
    status, page = await svc.connect()
    assert status == 200 and "Outreach connected" in page
    connection = await svc.connection("team_acme", "ana@acme.com")
    assert connection["status"] == "connected" and connection["outreach_user_id"] == 1
    assert "webhooks.all" in connection["scopes"] and "calls.all" in connection["scopes"]
    status, mappings = await svc.api("GET", "/v1/teams/team_acme/user-mappings")
    assert status == 200
    assert mappings["mappings"] == [{"rep_email": "ana@acme.com", "outreach_user_id": 1,
                                     "email": "ana@acme.com", "name": "Ana Ruiz"}]
    assert {u["email"] for u in mappings["outreach_users"]} >= {"ana@acme.com", "ben@acme.com", "cleo@acme.com"}
    assert set(mappings["outreach_users"][0]) == {"id", "email", "name"}  # nothing else is kept


async def test_tokens_are_encrypted_at_rest(svc: Service) -> None:
    await svc.connect()
    stored = await svc.redis.hget(keys.connection("team_acme", "ana@acme.com"), "tokens")
    assert stored and stored.startswith(b"gAAAAA")  # a Fernet token
    minted = [r for r in await svc.sandbox.requests("/oauth/token")]
    assert minted
    for key in await svc.redis.keys("*"):
        if await svc.redis.type(key) == b"hash":
            values = b" ".join((await svc.redis.hgetall(key)).values())
            assert b"Bearer" not in values and b"access_token" not in values


async def test_connect_link_is_single_use(svc: Service) -> None:
    status, link = await svc.api("POST", "/v1/teams/team_acme/reps/ana@acme.com/connect-link")
    assert status == 200 and link["expires_at"].endswith("Z")
    async with svc.http.get(link["url"], allow_redirects=False) as first:
        assert first.status == 302
        assert first.headers["Location"].startswith(svc.settings.outreach_oauth_url + "/authorize?")
    async with svc.http.get(link["url"], allow_redirects=False) as second:
        assert second.status == 400


async def test_bad_or_reused_state_and_access_denied_change_nothing(svc: Service) -> None:
    async with svc.http.get(f"{svc.base_url}/v1/outreach/oauth/callback?code=abc&state=forged") as r:
        assert r.status == 400
    async with svc.http.get(f"{svc.base_url}/v1/outreach/oauth/callback") as r:
        assert r.status == 400
    status, page = await svc.connect(deny=True)
    assert status == 400 and "denied" in page
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "not_connected"


async def test_a_state_works_once(svc: Service) -> None:
    status, link = await svc.api("POST", "/v1/teams/team_acme/reps/ana@acme.com/connect-link")
    async with svc.http.get(link["url"], allow_redirects=False) as start:
        authorize = start.headers["Location"] + "&login_email=ana@acme.com"
    async with svc.http.get(authorize, allow_redirects=False) as consent:
        callback = consent.headers["Location"]
    async with svc.http.get(callback) as first:
        assert first.status == 200
    async with svc.http.get(callback) as replay:
        assert replay.status == 400


async def test_rep_without_outreach_user_is_connected_but_unmapped(svc: Service) -> None:
    status, page = await svc.connect(rep_email="zoe@acme.com", login_email="cleo@acme.com")
    assert status == 200 and "map" in page
    connection = await svc.connection("team_acme", "zoe@acme.com")
    assert connection["status"] == "connected" and connection["outreach_user_id"] is None


async def test_disconnect(svc: Service) -> None:
    await svc.connect()
    status, body = await svc.api("DELETE", "/v1/teams/team_acme/reps/ana@acme.com/connection")
    assert (status, body) == (200, {"status": "not_connected"})
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "not_connected"
    assert not await svc.redis.exists(keys.connection("team_acme", "ana@acme.com"))


async def test_connection_is_per_team(svc: Service) -> None:
    await svc.connect()
    assert (await svc.connection("team_other", "ana@acme.com"))["status"] == "not_connected"
