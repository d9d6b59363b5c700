"""/ops at the size of a large deployment costs what one page shows: reps, teams and parked reps come 50 at a
time from indexes kept as they change, each with its total; the dashboard pages teams as well."""

from __future__ import annotations

import time

from schemas.connection import TokenSet
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.history import EventHistory
from store.job_queue import JobWriter
from store.parking import ParkingLot
from store.queue import EventQueue
from tests.support.service import Service

TOKENS = TokenSet(access_token="a", refresh_token="r", expires_at=time.time() + 3600)


async def test_connections_teams_and_parked_reps_come_a_page_at_a_time(svc: Service) -> None:
    store = ConnectionStore(svc.redis, TokenCipher(svc.settings.encryption_keys))
    parking = ParkingLot(svc.redis, EventQueue(svc.redis, JobWriter(svc.redis)), EventHistory(svc.redis))
    for team in range(60):
        for rep in range(2):
            await store.save_tokens(f"team_{team:03d}", f"rep{rep}@x.com", TOKENS)
    for rep in range(55):
        await parking.park("team_p", f"rep{rep:03d}@x.com", f"evt_p{rep}", "not_connected")

    status, first = await svc.ops_api("GET", "/ops/api/connections")
    assert status == 200
    assert (len(first["connections"]), first["total"], first["next_offset"]) == (50, 120, 50)
    assert (len(first["webhooks"]), first["teams_total"], first["teams_next_offset"]) == (50, 60, 50)
    assert first["connections"][0]["team_id"] == "team_000" and first["webhooks"][0]["reps"] == 2
    last = (await svc.ops_api("GET", "/ops/api/connections?offset=100"))[1]
    assert [(r["team_id"], r["rep_email"]) for r in last["connections"]][-1] == ("team_059", "rep1@x.com")
    assert last["next_offset"] is None

    teams = (await svc.ops_api("GET", "/ops/api/webhooks?offset=50"))[1]
    assert [t["team_id"] for t in teams["teams"]] == [f"team_{n:03d}" for n in range(50, 60)]
    assert teams["total"] == 60 and teams["next_offset"] is None
    assert all(t["health"] == "none" and t["holder"] is None for t in teams["teams"])

    parked = (await svc.ops_api("GET", "/ops/api/parked?offset=50"))[1]
    assert parked["total_reps"] == 55 and len(parked["reps"]) == 5 and parked["next_offset"] is None
    summary = (await svc.ops_api("GET", "/ops/api/summary"))[1]
    assert (summary["parked"], summary["parked_reps"]) == (55, 55)

    async with svc.http.get(f"{svc.base_url}/ops?wh=50", headers=svc.basic()) as response:
        page = await response.text()
    assert response.status == 200 and "60 teams" in page and "51\u201360 of 60" in page
