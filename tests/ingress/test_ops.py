"""`/ops`: behind HTTP Basic, and absent (404) when no credentials are configured."""

from __future__ import annotations

import aiohttp

from store import keys
from tests.support.nooks import call_event
from tests.support.outreach_hooks import connect_another, connect_with_webhooks
from tests.support.servers import running_app
from tests.support.service import Service, eventually


async def test_dashboard_needs_credentials(svc: Service) -> None:
    for path in ("/ops", "/ops/api/dead-letters", "/ops/api/parked", "/ops/api/summary", "/ops/api/webhooks"):
        async with svc.http.get(f"{svc.base_url}{path}") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        wrong = {"Authorization": aiohttp.encode_basic_auth("ops", "wrong")}
        async with svc.http.get(f"{svc.base_url}{path}", headers=wrong) as response:
            assert response.status == 401
    async with svc.http.get(f"{svc.base_url}/ops", headers={"Authorization": "Basic !!!"}) as response:
        assert response.status == 401


async def test_dashboard_shows_parked_and_dead_letters(svc: Service) -> None:
    parked = call_event("call_waiting")
    await svc.post_event(parked)
    await eventually(lambda: _parked(svc))
    async with svc.http.get(f"{svc.base_url}/ops", headers=svc.basic()) as response:
        assert response.status == 200
        page = await response.text()
    assert "Queue dashboard" in page and parked["id"] in page and "not connected" in page
    status, summary = await svc.ops_api("GET", "/ops/api/summary")
    assert status == 200 and summary["parked"] == 1


async def test_each_teams_webhook_holder_and_health(svc: Service) -> None:
    await connect_with_webhooks(svc)
    await connect_another(svc, "ben@acme.com")
    status, body = await svc.ops_api("GET", "/ops/api/webhooks")
    assert status == 200
    [team] = body["teams"]
    assert team["team_id"] == "team_acme" and team["health"] == "ok" and team["problems"] == []
    assert team["holder"] == "ana@acme.com" and team["holder_status"] == "connected" and team["reps"] == 2
    assert team["missing"] == [] and len(team["subscribed"]) == 5 and team["other_sets"] == {}
    assert isinstance(team["holder_since"], int) and isinstance(team["checked_at"], int)

    await svc.redis.hset(keys.connection("team_acme", "ana@acme.com"), "status", "needs_reconnect")
    [team] = (await svc.ops_api("GET", "/ops/api/webhooks"))[1]["teams"]
    assert team["health"] == "degraded" and team["problems"] == ["holder needs_reconnect"]
    async with svc.http.get(f"{svc.base_url}/ops", headers=svc.basic()) as response:
        page = await response.text()
    assert "Outreach webhooks" in page and "ana@acme.com (needs reconnect)" in page and "5/5" in page


async def test_retry_of_unknown_dead_letter_is_404(svc: Service) -> None:
    assert (await svc.ops_api("POST", "/ops/api/dead-letters/evt_nope/retry"))[0] == 404


async def test_without_credentials_configured_ops_is_404(svc: Service) -> None:
    async with running_app(svc.settings, ops_username=None, ops_password=None) as base, aiohttp.ClientSession() as http:
        for path in ("/ops", "/ops/api/dead-letters"):
            anything = {"Authorization": aiohttp.encode_basic_auth("ops", "anything")}
            async with http.get(f"{base}{path}", headers=anything) as response:
                assert response.status == 404


async def _parked(svc: Service) -> list:  # type: ignore[type-arg]
    return (await svc.ops_api("GET", "/ops/api/parked"))[1]["parked"]  # type: ignore[no-any-return]
