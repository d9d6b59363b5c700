"""`/ops`: each team's webhook subscription holder and the health of its one set (docs/outreach-webhooks.md)."""

from __future__ import annotations

from store import keys
from tests.support.outreach_hooks import connect_another, connect_with_webhooks
from tests.support.service import Service


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
    assert (await svc.ops_api("GET", "/ops/api/connections"))[1]["webhooks"] == [team]
    async with svc.http.get(f"{svc.base_url}/ops", headers=svc.basic()) as response:
        page = await response.text()
    assert "Outreach webhooks" in page and "ana@acme.com (needs reconnect)" in page and "5/5" in page
