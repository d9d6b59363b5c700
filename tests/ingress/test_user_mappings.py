"""The User Mapping settings: rep email → Outreach user id."""

from __future__ import annotations

from tests.support.service import Service


async def test_put_and_list(svc: Service) -> None:
    await svc.connect()
    status, body = await svc.api("PUT", "/v1/teams/team_acme/user-mappings/Ben@Acme.com", json={"outreach_user_id": 2})
    assert status == 200
    assert body == {"rep_email": "ben@acme.com", "outreach_user_id": 2, "email": "ben@acme.com",
                    "name": "Ben Okafor", "released_events": 0}
    status, listing = await svc.api("GET", "/v1/teams/team_acme/user-mappings")
    assert [m["rep_email"] for m in listing["mappings"]] == ["ana@acme.com", "ben@acme.com"]


async def test_bad_bodies(svc: Service) -> None:
    path = "/v1/teams/team_acme/user-mappings/ben@acme.com"
    for body, expected in ((b"{", 400), (b"[]", 422), (b'{"outreach_user_id": 0}', 422),
                           (b'{"outreach_user_id": "two"}', 422), (b'{"outreach_user_id": 2, "x": 1}', 422),
                           (b"x" * 10_000, 413)):
        status, answer = await svc.api("PUT", path, data=body, headers={"content-type": "application/json"})
        assert status == expected, body
        assert "error" in answer


async def test_unknown_outreach_user_once_users_are_known(svc: Service) -> None:
    await svc.connect()
    status, answer = await svc.api("PUT", "/v1/teams/team_acme/user-mappings/ben@acme.com",
                                   json={"outreach_user_id": 999})
    assert status == 422 and answer["error"]["code"] == "unknown_outreach_user"


async def test_needs_bearer(svc: Service) -> None:
    async with svc.http.get(f"{svc.base_url}/v1/teams/team_acme/user-mappings") as response:
        assert response.status == 401
