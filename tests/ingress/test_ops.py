"""`/ops`: behind HTTP Basic, and absent (404) when no credentials are configured."""

from __future__ import annotations

import aiohttp

from tests.support.nooks import call_event
from tests.support.servers import running_app
from tests.support.service import Service, eventually


async def test_dashboard_needs_credentials(svc: Service) -> None:
    for path in ("/ops", "/ops/api/dead-letters", "/ops/api/parked", "/ops/api/summary"):
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
