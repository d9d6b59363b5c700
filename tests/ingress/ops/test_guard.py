"""`/ops`: behind HTTP Basic (absent, 404, when no credentials are configured), read-only operators act on
nothing, and no state change comes from another site."""

from __future__ import annotations

import aiohttp

from tests.support.nooks import call_event
from tests.support.servers import running_app
from tests.support.service import OPS_READONLY, Service, eventually

ALL_PATHS = ("/ops/", "/ops/search?q=x", "/ops/api/dead-letters", "/ops/api/parked", "/ops/api/summary",
             "/ops/api/search?q=x", "/ops/api/audit", "/ops/api/retries", "/ops/api/connections", "/ops/api/ingest",
             "/ops/api/webhooks")


async def test_dashboard_needs_credentials(svc: Service) -> None:
    for path in ALL_PATHS:
        async with svc.http.get(f"{svc.base_url}{path}") as response:
            assert response.status == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        wrong = {"Authorization": aiohttp.encode_basic_auth("ops", "wrong")}
        async with svc.http.get(f"{svc.base_url}{path}", headers=wrong) as response:
            assert response.status == 401
    async with svc.http.get(f"{svc.base_url}/ops/", headers={"Authorization": "Basic !!!"}) as response:
        assert response.status == 401


async def test_every_answer_refuses_framing_and_caching(svc: Service) -> None:
    for path in ("/ops/", "/ops/api/summary", "/ops/static/ops.js"):
        async with svc.http.get(f"{svc.base_url}{path}", headers=svc.basic()) as response:
            assert response.status == 200, path
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Cache-Control"] == "no-store"


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
    assert (await svc.ops_api("POST", "/ops/api/dead-letters/evt_nope/discard"))[0] == 404


async def test_read_only_operator_sees_everything_and_acts_on_nothing(svc: Service) -> None:
    await svc.connect()
    event = await svc.dead_letter("call_ro")
    for path in ALL_PATHS:
        assert (await svc.ops_api("GET", path, auth=OPS_READONLY))[0] == 200, path
    page = (await svc.ops_api("GET", "/ops/", auth=OPS_READONLY))[1]
    assert event["id"] in page and "read-only" in page and "Retry all matching" not in page
    for path in (f"/ops/api/dead-letters/{event['id']}/retry", f"/ops/api/dead-letters/{event['id']}/discard",
                 "/ops/api/dead-letters/retry", "/ops/api/reps/team_acme/ana@acme.com/pause"):
        status, body = await svc.ops_api("POST", path, json={}, auth=OPS_READONLY)
        assert (status, body["error"]["code"]) == (403, "read_only"), path
    letters = (await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"]
    assert [letter["event_id"] for letter in letters] == [event["id"]]
    assert (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"] == []


async def test_cross_site_requests_change_nothing_even_with_credentials(svc: Service) -> None:
    await svc.connect()
    event = await svc.dead_letter("call_xsite")
    forged = ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
              {"Origin": "null"}, {"Origin": svc.base_url.replace("127.0.0.1", "localhost")})
    for headers in forged:
        for path, body in ((f"/ops/api/dead-letters/{event['id']}/retry", None), ("/ops/api/dead-letters/retry", {}),
                           ("/ops/api/reps/team_acme/ana@acme.com/pause", None)):
            status, answer = await svc.ops_api("POST", path, json=body, headers=headers)
            assert (status, answer["error"]["code"]) == (403, "cross_site"), (headers, path)
    assert len((await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"]) == 1
    assert not (await svc.ops_api("GET", "/ops/api/parked"))[1]["paused"]
    # The dashboard's own buttons send the service's own origin: they work.
    same = {"Origin": svc.base_url, "Sec-Fetch-Site": "same-origin"}
    assert (await svc.ops_api("POST", f"/ops/api/dead-letters/{event['id']}/retry", headers=same))[0] == 202


async def test_without_credentials_configured_ops_is_404(svc: Service) -> None:
    async with running_app(svc.settings, ops_username=None, ops_password=None, ops_readonly_username=None,
                           ops_readonly_password=None) as base, aiohttp.ClientSession() as http:
        for path in ("/ops", "/ops/", "/ops/api/dead-letters", "/ops/api/search?q=x"):
            anything = {"Authorization": aiohttp.encode_basic_auth("ops", "anything")}
            async with http.get(f"{base}{path}", headers=anything) as response:
                assert response.status == 404
        async with http.post(f"{base}/ops/api/dead-letters/retry", json={}) as response:
            assert response.status == 404


async def _parked(svc: Service) -> list:  # type: ignore[type-arg]
    return (await svc.ops_api("GET", "/ops/api/parked"))[1]["parked"]  # type: ignore[no-any-return]
