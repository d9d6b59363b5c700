"""The /ops JSON API against the running service, a real Redis and the Outreach sandbox (CONTRACT "Operators")."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from ingress.ops import actions
from schemas.ops import DeadLetter, DeadLetterFilter
from store import keys
from store.dead_letters import DeadLetters
from store.job_queue import JobWriter
from store.queue import EventQueue
from tests.support.nooks import call_event
from tests.support.outreach_hooks import services_for
from tests.support.service import OPS_READONLY, Service, eventually

REP = "/ops/api/reps/team_acme/ana@acme.com"


async def _story(svc: Service, event_id: str, *steps: str) -> dict[str, Any]:
    """The event's story once it holds these steps, in this order (other steps may come between)."""
    async def probe() -> dict[str, Any] | None:
        status, story = await svc.ops_api("GET", f"/ops/api/events/{event_id}")
        if status != 200:
            return None
        seen = iter(step["step"] for step in story["steps"])
        return story if all(any(s == wanted for s in seen) for wanted in steps) else None
    return await eventually(probe)


async def _dead_ids(svc: Service, query: str = "") -> list[str]:
    letters = (await svc.ops_api("GET", f"/ops/api/dead-letters{query}"))[1]["dead_letters"]
    return [letter["event_id"] for letter in letters]


async def test_dead_letter_found_by_call_id_retried_and_audited(svc: Service) -> None:
    await svc.connect()
    event = await svc.dead_letter("call_dl_1")
    letter = (await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"][0]
    assert {k: letter[k] for k in ("event_id", "call_id", "rep_email", "team_id", "attempts")} == {
        "event_id": event["id"], "call_id": "call_dl_1", "rep_email": "ana@acme.com", "team_id": "team_acme",
        "attempts": 1}
    assert "422" in letter["reason"]

    await eventually(lambda: _found(svc, "call_dl_1", event["id"], "dead_lettered"))  # indexed within 1 s
    found = await _story(svc, event["id"], "received", "dead_lettered")  # web and worker each write their own steps
    assert [step["step"] for step in found["steps"]] == ["received", "dead_lettered"]

    assert await svc.ops_api("POST", f"/ops/api/dead-letters/{event['id']}/retry") == (
        202, {"status": "queued", "event_id": event["id"]})
    assert await _dead_ids(svc) == []
    calls = await eventually(lambda: svc.calls("call_dl_1"))
    story = await _story(svc, event["id"], "received", "dead_lettered", "retried", "call_written", "task_completed",
                         "logged")
    assert story["state"] == "logged" and story["outreach_call_id"] == int(calls[0]["id"])
    assert story["task_completed"] is True
    assert [s["by"] for s in story["steps"] if s["step"] == "retried"] == ["ops"]
    audit = (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"]
    assert [(a["who"], a["action"], a["target"], a["count"]) for a in audit] == [
        ("ops", "retry", f"dead letter {event['id']}", 1)]


async def test_bulk_retry_takes_what_the_filter_matches_and_answers_how_many(svc: Service) -> None:
    await svc.connect()
    first, second = await svc.dead_letter("call_bulk_1"), await svc.dead_letter("call_bulk_2")
    assert await svc.ops_api("POST", "/ops/api/dead-letters/retry", json={"rep_email": "nobody@acme.com"}) == (
        202, {"retried": 0, "filter": {"rep_email": "nobody@acme.com"}})
    assert sorted(await _dead_ids(svc, "?rep_email=ANA@acme.com")) == sorted([first["id"], second["id"]])
    status, body = await svc.ops_api("POST", "/ops/api/dead-letters/retry", json={"team_id": "team_acme"})
    assert (status, body["retried"]) == (202, 2)
    assert await _dead_ids(svc) == []
    await eventually(lambda: svc.calls("call_bulk_1"))
    await eventually(lambda: svc.calls("call_bulk_2"))
    audit = (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"]
    assert [(a["action"], a["target"], a["count"]) for a in audit] == [
        ("retry all", "dead letters team_id=team_acme", 2),
        ("retry all", "dead letters rep_email=nobody@acme.com", 0)]


async def test_bulk_retry_refuses_a_bad_filter_and_changes_nothing(svc: Service) -> None:
    for body, status, code in (({"reason": 5}, 422, "invalid_filter"), ({"colour": "red"}, 422, "invalid_filter"),
                               ("not json", 400, "bad_json")):
        async with svc.http.post(f"{svc.base_url}/ops/api/dead-letters/retry", headers=svc.basic(),
                                 data=body if isinstance(body, str) else None,
                                 json=None if isinstance(body, str) else body) as response:
            assert response.status == status
            assert (await response.json())["error"]["code"] == code
    assert (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"] == []


async def test_discard_drops_the_dead_letter_and_its_event(svc: Service) -> None:
    await svc.connect()
    event = await svc.dead_letter("call_discard")
    assert (await svc.ops_api("POST", f"/ops/api/dead-letters/{event['id']}/discard"))[0] == 200
    assert await _dead_ids(svc) == []
    assert not await svc.redis.exists(f"no:event:{event['id']}")
    story = await _story(svc, event["id"], "dead_lettered", "discarded")
    assert story["state"] == "discarded"


async def test_a_paused_reps_events_wait_and_go_on_resume(svc: Service) -> None:
    await svc.connect()
    assert (await svc.ops_api("POST", f"{REP}/pause"))[1] == {
        "team_id": "team_acme", "rep_email": "ana@acme.com", "paused": True, "changed": True}
    event = call_event("call_paused")
    await svc.post_event(event)
    await _story(svc, event["id"], "parked")
    parked = (await svc.ops_api("GET", "/ops/api/parked"))[1]
    assert parked["reps"][0]["reasons"] == {"paused": 1} and parked["reps"][0]["paused"] is True
    assert parked["paused"][0]["by"] == "ops"
    assert await svc.calls("call_paused") == []
    status, resumed = await svc.ops_api("POST", f"{REP}/resume")
    assert (status, resumed["released"], resumed["paused"]) == (200, 1, False)
    await eventually(lambda: svc.calls("call_paused"))
    await _story(svc, event["id"], "parked", "released", "logged")
    audit = (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"]
    assert [(a["action"], a["count"]) for a in audit] == [("resume", 1), ("pause", 1)]


async def test_release_queues_a_reps_parked_events_again(svc: Service) -> None:
    event = call_event("call_release")  # ana has not connected: parked
    await svc.post_event(event)
    await _story(svc, event["id"], "parked")
    status, body = await svc.ops_api("POST", f"{REP}/release")
    assert (status, body["released"]) == (200, 1)
    story = await _story(svc, event["id"], "parked", "released", "parked")  # still not connected: waits again
    assert story["state"] == "parked"
    assert (await svc.ops_api("POST", "/ops/api/reps/team_acme/not-an-email/release"))[0] == 422


async def test_search_by_event_id_call_id_and_rep_email(svc: Service) -> None:
    await svc.connect()
    event = call_event("call_search")
    await svc.post_event(event)
    await eventually(lambda: svc.calls("call_search"))
    for query in (event["id"], "call_search", "ANA@acme.com"):
        story = await eventually(lambda q=query: _found(svc, q, event["id"], "logged"))
        assert story["call_id"] == "call_search" and story["rep_email"] == "ana@acme.com"
    assert (await svc.ops_api("GET", "/ops/api/search?q=nothing-like-it"))[1]["events"] == []
    assert (await svc.ops_api("GET", "/ops/api/search?q="))[1]["events"] == []
    assert (await svc.ops_api("GET", "/ops/api/events/evt_unknown"))[0] == 404


async def _found(svc: Service, query: str, event_id: str, state: str) -> dict[str, Any] | None:
    events = (await svc.ops_api("GET", f"/ops/api/search?q={query}"))[1]["events"]
    return next((e for e in events if e["event_id"] == event_id and e["state"] == state), None)


async def test_a_retry_waits_on_the_board_with_its_reason_then_leaves(svc: Service) -> None:
    await svc.connect()
    # Past the quick retries inside the job (outreach/quick_retry.py): the job itself retries.
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=503, count=4)
    event = call_event("call_retry")
    await svc.post_event(event)

    async def waiting() -> list[dict[str, Any]]:
        return (await svc.ops_api("GET", "/ops/api/retries"))[1]["retries"]  # type: ignore[no-any-return]

    entry = (await eventually(waiting))[0]
    assert (entry["event_id"], entry["call_id"], entry["attempt"]) == (event["id"], "call_retry", 2)
    assert entry["reason"] == "Outreach answered 503" and entry["next_at"] > time.time() - 1
    await eventually(lambda: svc.calls("call_retry"), timeout=15)
    await eventually(lambda: _empty(waiting))
    await _story(svc, event["id"], "received", "attempt_failed", "logged")


async def _empty(probe: Any) -> bool:
    return not await probe()


async def test_lists_come_a_page_at_a_time(svc: Service) -> None:
    letters = DeadLetters(svc.redis, EventQueue(svc.redis, JobWriter(svc.redis)))
    for index in range(55):
        await letters.add(DeadLetter(event_id=f"evt_{index:03d}", call_id=None, rep_email=None, team_id=None,
                                     reason="r", attempts=1, dead_at=1_700_000_000 + index))
    first = (await svc.ops_api("GET", "/ops/api/dead-letters"))[1]
    assert (len(first["dead_letters"]), first["total"], first["next_offset"]) == (50, 55, 50)
    assert first["dead_letters"][0]["event_id"] == "evt_054"  # newest first
    second = (await svc.ops_api("GET", "/ops/api/dead-letters?offset=50"))[1]
    assert [d["event_id"] for d in second["dead_letters"]] == [f"evt_{i:03d}" for i in range(4, -1, -1)]
    assert second["next_offset"] is None
    assert (await svc.ops_api("GET", "/ops/api/summary"))[1]["dead_letters"] == 55


async def test_overview_connections_and_ingest_figures(svc: Service) -> None:
    await svc.connect()
    event = call_event("call_figures")
    await svc.post_event(event)
    await svc.post_event(call_event("call_unsigned"), secret="whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    await eventually(lambda: svc.calls("call_figures"))

    async def overview() -> dict[str, Any] | None:
        summary = (await svc.ops_api("GET", "/ops/api/summary"))[1]
        logged = sum(point["calls_logged"] for point in summary["per_minute"])
        alive = any(w["alive"] for w in summary["workers"])  # each worker beats every 5 s
        return summary if logged and summary["latency_last_hour"]["calls"] and alive else None

    summary = await eventually(overview, timeout=15)
    assert summary["latency_last_hour"]["p95_seconds_at_most"] is not None
    assert summary["queue"]["oldest_waiting_seconds"] is None or summary["queue"]["oldest_waiting_seconds"] >= 0
    assert all(w["in_flight"] >= 0 and w["heartbeat_age_seconds"] < 60 for w in summary["workers"])
    assert summary["redis"]["used_memory"] > 0 and "aof_enabled" in summary["redis"]
    assert len(summary["per_minute"]) == 60 and len(summary["per_hour"]) == 24

    async def connection() -> dict[str, Any] | None:
        rows = (await svc.ops_api("GET", "/ops/api/connections"))[1]
        row = rows["connections"][0]
        return rows if row["rate_remaining"] is not None and row["last_call_at"] else None

    rows = await eventually(connection, timeout=15)
    row, [team] = rows["connections"][0], rows["webhooks"]
    assert (row["team_id"], row["rep_email"], row["status"]) == ("team_acme", "ana@acme.com", "connected")
    assert row["token_expires_at"] > time.time() and row["rate_reset_at"] is not None
    assert set(row["reconcile_lag_seconds"]) == {"task", "prospect", "sequenceState", "call"}
    assert team["team_id"] == "team_acme" and team["holder"] == "ana@acme.com"

    async def ingest() -> dict[str, Any] | None:
        nooks = (await svc.ops_api("GET", "/ops/api/ingest"))[1]["sources"]["nooks"]["last_hour"]
        return nooks if nooks["accepted"] >= 1 and nooks["refused_signature"] >= 1 else None

    await eventually(ingest)


async def test_metrics_expose_histograms_and_counts(svc: Service) -> None:
    await svc.connect()
    await svc.post_event(call_event("call_metrics"))
    await eventually(lambda: svc.calls("call_metrics"))

    async def scrape() -> str | None:
        text = await svc.metrics()
        return text if "nooks_outreach_event_to_outreach_seconds_count 1.0" in text else None

    text = await eventually(scrape)
    assert 'nooks_outreach_event_to_outreach_seconds_bucket{le="+Inf"} 1.0' in text
    assert 'nooks_outreach_outreach_request_seconds_bucket{le="+Inf",operation="POST /calls",status="201"} 1.0' in text
    assert 'nooks_outreach_ingest_total{outcome="accepted",source="nooks"} 1.0' in text
    assert "nooks_outreach_dead_letters 0.0" in text


async def test_every_id_in_a_dashboard_url_is_one_encoded_path_segment(svc: Service) -> None:
    """An id stored before ingress refused unsafe ones (or a team id with a `/`) stays inside its own URL: a
    Discard button never posts to another event's address."""
    letters = DeadLetters(svc.redis, EventQueue(svc.redis, JobWriter(svc.redis)))
    await letters.add(DeadLetter(event_id="../evt_other/x", call_id="c1", rep_email="a/b@acme.com",
                                 team_id="team/x", reason="r", attempts=1, dead_at=int(time.time())))
    status, page = await svc.ops_api("GET", "/ops/")
    assert status == 200
    assert 'data-post="/ops/api/dead-letters/..%2Fevt_other%2Fx/discard"' in page
    assert 'href="/ops/events/..%2Fevt_other%2Fx"' in page
    assert "/ops/api/dead-letters/../" not in page and "/ops/events/../" not in page


async def test_an_action_that_fails_is_audited_with_its_outcome(svc: Service) -> None:
    """A retry whose event is gone keeps the dead letter (it was deleted and answered 404), an unknown one is
    audited too, and a bulk action that meets an error says how far it got."""
    await svc.connect()
    event = await svc.dead_letter("call_gone")
    await svc.redis.delete(keys.event(event["id"]))  # e.g. expired with the retention of another copy
    status, answer = await svc.ops_api("POST", f"/ops/api/dead-letters/{event['id']}/retry")
    assert (status, answer["error"]["code"]) == (409, "event_gone")
    assert await _dead_ids(svc) == [event["id"]]
    assert (await svc.ops_api("POST", "/ops/api/dead-letters/evt_nope/discard"))[0] == 404
    assert (await svc.ops_api("POST", "/ops/api/dead-letters/retry", json={}))[1] == {"retried": 0, "filter": {}}
    audit = (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"]
    assert [(a["action"], a["target"], a["count"], a["outcome"]) for a in audit] == [
        ("retry all", "dead letters all", 0, "done, 1 skipped"),
        ("discard", "dead letter evt_nope", 0, "not_found"),
        ("retry", f"dead letter {event['id']}", 0, "event_gone")]

    class FailingThird(DeadLetters):
        """Redis goes away at the third dead letter."""
        taken = 0

        async def discard(self, event_id: str) -> bool:
            FailingThird.taken += 1
            if FailingThird.taken == 3:
                raise RedisConnectionError("Redis went away")
            return await super().discard(event_id)

    letters = DeadLetters(svc.redis, EventQueue(svc.redis, JobWriter(svc.redis)))
    for index in range(4):
        await letters.add(DeadLetter(event_id=f"evt_bulk_{index}", call_id=None, rep_email=None, team_id=None,
                                     reason="r", attempts=1, dead_at=int(time.time())))
    async with services_for(svc) as ctx:
        opened = ctx["services"]
        failing = FailingThird(opened.redis, opened.stores.queue)
        services = dataclasses.replace(opened, stores=dataclasses.replace(opened.stores, dead_letters=failing))
        with pytest.raises(RedisConnectionError):
            await actions.on_dead_letters(services, "ops", actions.DISCARD, DeadLetterFilter(reason="r"))
    newest = (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"][0]
    assert (newest["action"], newest["count"], newest["outcome"]) == (
        "discard all", 2, "stopped after 2: ConnectionError")


async def test_refusals_are_logged(svc: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ops.guard")
    assert (await svc.ops_api("GET", "/ops/api/summary", auth=("ops", "wrong-password")))[0] == 401
    assert (await svc.ops_api("POST", "/ops/api/dead-letters/evt_1/retry",
                              headers={"Origin": "https://evil.example"}))[0] == 403
    assert (await svc.ops_api("POST", "/ops/api/dead-letters/evt_1/retry", auth=OPS_READONLY))[0] == 403
    async with svc.http.get(f"{svc.base_url}/metrics") as response:
        assert response.status == 401
    lines = [record.getMessage() for record in caplog.records if record.name == "ops.guard"]
    assert [line.split(" method=")[0] for line in lines] == [
        "refused status=401 reason=unauthorized who=-", "refused status=403 reason=cross_site who=-",
        f"refused status=403 reason=read_only who={OPS_READONLY[0]}", "refused status=401 reason=unauthorized who=-"]
    assert "wrong-password" not in caplog.text
