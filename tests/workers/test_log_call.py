"""A call.completed event becomes exactly one Outreach call, end to end over real HTTP and a real Redis."""

from __future__ import annotations

import asyncio
import contextlib

import orjson

from store import keys
from tests.support.nooks import call_event
from tests.support.outreach_hooks import services_for
from tests.support.service import Service, eventually
from workers.log_call import log_call


async def test_connected_rep_call_is_logged_with_everything(svc: Service) -> None:
    status, page = await svc.connect()
    assert status == 200, page
    event = call_event("call_8f3a1c")
    status, body = await svc.post_event(event)
    assert (status, body) == (202, {"status": "queued", "event_id": event["id"]})

    calls = await eventually(lambda: svc.calls("call_8f3a1c"))
    assert len(calls) == 1
    call = calls[0]
    attributes, relationships = call["attributes"], call["relationships"]
    assert attributes["direction"] == "outbound"
    assert attributes["outcome"] == "Answered"
    assert attributes["to"] == "+14155551234" and attributes["from"] == "+14155550100"
    assert attributes["dialedAt"].startswith("2026-11-29T12:58:00")
    assert attributes["answeredAt"].startswith("2026-11-29T12:58:09")
    assert attributes["completedAt"].startswith("2026-11-29T12:59:44")
    assert attributes["note"] == "Wants pricing for 40 seats"
    assert attributes["recordingUrl"] == "https://rec.nooks.example/c/8f3a1c.mp3"
    assert attributes["externalVendor"] == "Nooks"
    rel = {name: (value.get("data") or {}).get("id") for name, value in relationships.items()}
    assert rel["prospect"] == 3456 and rel["user"] == 1 and rel["callDisposition"] == 1 and rel["task"] == 1122
    assert rel["sequence"] == 41 and rel["sequenceStep"] == 202 and rel["sequenceState"] is not None
    assert await eventually(lambda: _is_complete(svc, 1122))
    assert not await svc.redis.exists(keys.event(event["id"]))  # logged: the event is dropped
    assert not await svc.redis.exists(keys.ARQ_RESULT + event["id"])  # and arq keeps no result of it


async def _is_complete(svc: Service, task_id: int) -> bool:
    return await svc.task_state(task_id) == "complete"


async def _logged(svc: Service, call_id: str, count: int = 1, timeout: float = 10.0) -> list[dict]:  # type: ignore[type-arg]
    return await eventually(lambda: _exactly(svc, call_id, count), timeout=timeout)


async def _exactly(svc: Service, call_id: str, count: int) -> list[dict] | None:  # type: ignore[type-arg]
    calls = await svc.calls(call_id)
    assert len(calls) <= count, f"{len(calls)} calls for {call_id}"
    return calls if len(calls) == count else None


async def _result(svc: Service, event_id: str) -> dict:  # type: ignore[type-arg]
    """The worker's outcome, read from where operators see it."""
    async def probe() -> dict | None:  # type: ignore[type-arg]
        flagged = (await svc.ops_api("GET", "/ops/api/flagged"))[1]["flagged"]
        dead = (await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"]
        parked = (await svc.ops_api("GET", "/ops/api/parked"))[1]["parked"]
        for kind, items in (("flagged", flagged), ("dead", dead), ("parked", parked)):
            for item in items:
                if item["event_id"] == event_id:
                    return {"kind": kind, **item}
        return None
    return await eventually(probe)


def _rel(call: dict, name: str) -> int | None:  # type: ignore[type-arg]
    return ((call["relationships"].get(name) or {}).get("data") or {}).get("id")


async def test_prospect_found_by_dialed_number(svc: Service) -> None:
    await svc.connect()
    await svc.post_event(call_event("call_by_phone", prospect_id=None, task_id=None, to="(415) 555-1234"))
    [call] = await _logged(svc, "call_by_phone")
    assert _rel(call, "prospect") == 3456 and _rel(call, "task") is None


async def test_prospect_taken_from_the_task(svc: Service) -> None:
    await svc.connect()
    await svc.post_event(call_event("call_by_task", prospect_id=None, to="+19999999999"))
    [call] = await _logged(svc, "call_by_task")
    assert _rel(call, "prospect") == 3456 and _rel(call, "task") == 1122


async def test_disposition_by_name_and_unanswered_outcome(svc: Service) -> None:
    await svc.connect()
    await svc.post_event(call_event("call_named", disposition_id=None, disposition="left voicemail",
                                    answered_at=None))
    [call] = await _logged(svc, "call_named")
    assert _rel(call, "callDisposition") == 7
    assert call["attributes"]["outcome"] == "Not Answered"


async def test_unknown_disposition_is_logged_without_link_and_flagged(svc: Service) -> None:
    await svc.connect()
    event = call_event("call_odd_dispo", disposition_id=None, disposition="Abducted by aliens")
    await svc.post_event(event)
    [call] = await _logged(svc, "call_odd_dispo")
    assert _rel(call, "callDisposition") is None
    result = await _result(svc, event["id"])
    assert result["kind"] == "flagged" and result["flags"] == ["disposition_unknown"]
    event = call_event("call_bad_dispo_id", disposition_id=424242)
    await svc.post_event(event)
    [call] = await _logged(svc, "call_bad_dispo_id")
    assert _rel(call, "callDisposition") is None
    assert (await _result(svc, event["id"]))["flags"] == ["disposition_not_found"]


async def test_task_gone_is_logged_without_task_and_flagged(svc: Service) -> None:
    await svc.connect()
    event = call_event("call_no_task", task_id=987654)
    await svc.post_event(event)
    [call] = await _logged(svc, "call_no_task")
    assert _rel(call, "task") is None and _rel(call, "sequence") is None
    assert (await _result(svc, event["id"]))["flags"] == ["task_not_found"]


async def test_complete_task_false_leaves_the_task_open(svc: Service) -> None:
    await svc.connect()
    await svc.post_event(call_event("call_keep_open", complete_task=False))
    await _logged(svc, "call_keep_open")
    assert await svc.task_state(1122) == "incomplete"


async def test_task_already_complete_is_not_completed_again(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.update("task", 1122, {"state": "complete"})
    await svc.sandbox.clear_requests()
    await svc.post_event(call_event("call_done_task"))
    await _logged(svc, "call_done_task")
    # Done in the ledger comes after any markComplete the job would make: wait for that, not a fixed time.
    await eventually(lambda: svc.redis.hget(keys.call_state("team_acme", "call_done_task"), "done"))
    assert not [r for r in await svc.sandbox.requests() if "markComplete" in r["path"]]


async def test_resent_event_with_new_id_gives_one_call(svc: Service) -> None:
    await svc.connect()
    await svc.post_event(call_event("call_resent"))
    await _logged(svc, "call_resent")
    again = call_event("call_resent")
    assert (await svc.post_event(again))[0] == 202
    await eventually(lambda: _stat(svc, "calls_duplicate"))
    assert len(await svc.calls("call_resent")) == 1


async def test_concurrent_deliveries_with_different_ids_give_one_call(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.faults(latency_ms=30)
    await asyncio.gather(*(svc.post_event(call_event("call_storm")) for _ in range(10)))
    await _logged(svc, "call_storm")
    await eventually(lambda: _stat(svc, "calls_duplicate", 9), timeout=20)
    assert len(await svc.calls("call_storm")) == 1


async def test_an_answer_dropped_after_commit_gives_one_call(svc: Service) -> None:
    """Outreach creates the call but the answer is lost: the call step's done-check (by vendorCallId) finds it
    before the quick retry would post it again."""
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", after_effect=True, drop=True)
    await svc.post_event(call_event("call_lost_answer"))
    await eventually(lambda: _stat(svc, "call_recovered"), timeout=15)
    await _logged(svc, "call_lost_answer")
    assert await eventually(lambda: _is_complete(svc, 1122))
    assert not await _stat(svc, "retries")  # found within the job's first attempt, no backoff


async def test_lost_answer_to_a_5xx_post_is_checked_then_sent_again(svc: Service) -> None:
    """A 503 to POST /calls may or may not have created it: the quick retry asks Outreach before posting again."""
    await svc.connect()
    await svc.sandbox.clear_requests()
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=503)
    await svc.post_event(call_event("call_503_once"))
    await _logged(svc, "call_503_once")
    assert await eventually(lambda: _is_complete(svc, 1122))
    calls = [r["method"] for r in await svc.sandbox.requests() if r["path"] == "/api/v2/calls"]
    assert calls == ["POST", "GET", "POST"]  # the check by vendorCallId between the two
    assert not await _stat(svc, "retries") and not await _stat(svc, "call_recovered")


async def test_a_dropped_answer_to_mark_complete_is_not_flagged(svc: Service) -> None:
    """markComplete done but its answer lost: the quick retry reads the task, finds it complete, and stops (a
    second markComplete would be refused and the call flagged as not completed)."""
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/tasks/1122/actions/markComplete", method="POST", after_effect=True,
                                drop=True)
    event = call_event("call_complete_lost")
    await svc.post_event(event)
    await _logged(svc, "call_complete_lost")
    assert await eventually(lambda: _is_complete(svc, 1122))
    await eventually(lambda: _no_job_left(svc))
    assert (await svc.ops_api("GET", "/ops/api/flagged"))[1]["flagged"] == []


async def test_a_first_attempt_does_not_look_for_a_written_call(svc: Service) -> None:
    """Nothing can have written a call no job began on: no listing of the prospect's calls before the POST."""
    await svc.connect()
    await svc.sandbox.clear_requests()
    await svc.post_event(call_event("call_first_try"))
    await _logged(svc, "call_first_try")
    assert await eventually(lambda: _is_complete(svc, 1122))
    calls = [r["method"] for r in await svc.sandbox.requests() if r["path"] == "/api/v2/calls"]
    assert calls == ["POST"]  # no GET: the prospect's calls were not listed


async def test_a_call_written_by_an_attempt_that_died_is_adopted(svc: Service) -> None:
    """A worker began this call_id, had Outreach create the call and died before recording it: the next job finds
    the call by vendorCallId instead of writing a second one."""
    await svc.connect()
    await svc.redis.hset(keys.call_state("team_acme", "call_died"), "attempts", 1)
    await svc.sandbox.create("call", {"vendorCallId": "call_died", "direction": "outbound"}, {"prospect": 3456})
    await svc.post_event(call_event("call_died"))
    await eventually(lambda: _stat(svc, "call_recovered"), timeout=15)
    await _logged(svc, "call_died")
    assert await eventually(lambda: _is_complete(svc, 1122))


async def test_outreach_5xx_and_429_are_retried_quickly_within_the_job(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=503)
    await svc.sandbox.fail_next("/api/v2/tasks/*", method="GET", status=429, retry_after=1)
    await svc.sandbox.fail_next("/api/v2/prospects/*", method="GET", drop=True)
    await svc.post_event(call_event("call_flaky", task_id=None))
    await svc.post_event(call_event("call_flaky_task", prospect_id=None))
    await _logged(svc, "call_flaky", timeout=5)  # the job's first attempt: no backoff (2 s, then 4 s, ...)
    await _logged(svc, "call_flaky_task", timeout=5)
    assert not await _stat(svc, "retries") and not await _stat(svc, "retries_rate_limited")


async def test_outreach_failing_past_the_quick_retries_backs_the_job_off(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/tasks/*", method="GET", status=502, count=5)
    await svc.post_event(call_event("call_long_outage"))
    await _logged(svc, "call_long_outage", timeout=20)
    assert await _stat(svc, "retries") and not await _stat(svc, "retries", 2)  # one backoff, not five


async def test_waiting_for_a_dead_workers_lock_is_not_counted_as_attempts(svc: Service) -> None:
    """A worker died holding the call's lock: the job waits for it (a retry every 1-2 s), and those waits must not
    count towards backoff or giving up: the first real failure backs off ~2 s, not minutes, and is no dead letter."""
    await svc.connect()
    await svc.redis.set(keys.call_lock("team_acme", "call_orphaned"), "a-dead-worker", px=5000)
    await svc.sandbox.fail_next("/api/v2/tasks/*", method="GET", status=502, count=4)  # past the quick retries
    await svc.post_event(call_event("call_orphaned"))
    await _logged(svc, "call_orphaned", timeout=15)
    assert await _stat(svc, "retries") and not await _stat(svc, "retries", 2)
    assert (await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"] == []


async def test_a_call_sent_again_after_its_dead_letter_starts_its_attempts_afresh(svc: Service) -> None:
    """A call gives up at its 12th attempt; the operator retries its dead letter: the retry's first failure backs
    off and lands, it is not dead-lettered again at once (the ledger's count restarts with the dead letter)."""
    await svc.connect()
    await svc.redis.hset(keys.call_state("team_acme", "call_retried_by_ops"), "attempts", 11)
    await svc.sandbox.fail_next("/api/v2/tasks/*", method="GET", status=502, count=4)  # past the quick retries
    event = call_event("call_retried_by_ops")
    await svc.post_event(event)
    dead = await _result(svc, event["id"])
    assert (dead["kind"], dead["attempts"]) == ("dead", 12) and dead["reason"].endswith("gave up after 12 attempts")
    await svc.sandbox.fail_next("/api/v2/tasks/*", method="GET", status=502, count=4)
    assert (await svc.ops_api("POST", f"/ops/api/dead-letters/{event['id']}/retry"))[0] == 202
    await _logged(svc, "call_retried_by_ops", timeout=15)
    assert await _stat(svc, "retries")  # the retry's first failure backed off, and the next attempt landed
    assert (await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"] == []


async def test_expired_token_is_refreshed_once_for_many_jobs(svc: Service) -> None:
    await svc.connect()
    mints_before = (await svc.sandbox.state())["token_mints"].get("1", 0)
    await svc.sandbox.expire_tokens("ana@acme.com")
    ids = [f"call_refresh_{i}" for i in range(8)]
    await asyncio.gather(*(svc.post_event(call_event(cid, task_id=None)) for cid in ids))
    for cid in ids:
        await _logged(svc, cid)
    assert (await svc.sandbox.state())["token_mints"]["1"] == mints_before + 1
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "connected"


async def test_refresh_response_without_refresh_token_keeps_the_stored_one(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.faults(omit_refresh_token=True)
    for round_ in range(2):  # twice: the second refresh must still have a refresh token to use
        await svc.sandbox.expire_tokens("ana@acme.com")
        await svc.post_event(call_event(f"call_keep_refresh_{round_}", task_id=None))
        await _logged(svc, f"call_keep_refresh_{round_}")


async def test_revoked_rep_is_parked_then_released_on_reconnect(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.revoke_tokens("ana@acme.com")
    event = call_event("call_after_revoke")
    await svc.post_event(event)
    parked = await _result(svc, event["id"])
    assert (parked["kind"], parked["reason"]) == ("parked", "needs_reconnect")
    connection = await svc.connection("team_acme", "ana@acme.com")
    assert connection["status"] == "needs_reconnect" and connection["parked_events"] == 1
    assert await svc.calls("call_after_revoke") == []
    await svc.connect()
    await _logged(svc, "call_after_revoke")
    assert (await svc.connection("team_acme", "ana@acme.com"))["parked_events"] == 0
    # Released, the call counted its attempts afresh: the one that logged it is its first since.
    assert await eventually(lambda: svc.redis.hget(keys.call_state("team_acme", "call_after_revoke"), "done"))
    assert await svc.redis.hget(keys.call_state("team_acme", "call_after_revoke"), "attempts") == b"1"


async def test_never_connected_rep_is_parked_until_connect(svc: Service) -> None:
    event = call_event("call_before_connect")
    await svc.post_event(event)
    parked = await _result(svc, event["id"])
    assert (parked["kind"], parked["reason"]) == ("parked", "not_connected")
    await svc.connect()
    await _logged(svc, "call_before_connect")


async def test_unmapped_rep_is_parked_until_mapped(svc: Service) -> None:
    # A connection without a mapping: one made before consents were checked (today's callback always maps).
    await svc.connect()
    await svc.redis.hdel(keys.mapping("team_acme"), "ana@acme.com")
    event = call_event("call_unmapped", task_id=None)
    await svc.post_event(event)
    assert (await _result(svc, event["id"]))["reason"] == "not_mapped"
    status, body = await svc.api("PUT", "/v1/teams/team_acme/user-mappings/ana@acme.com", json={"outreach_user_id": 3})
    assert status == 200 and body["released_events"] == 1
    [call] = await _logged(svc, "call_unmapped")
    assert _rel(call, "user") == 3


async def test_prospect_not_found_is_dead_lettered_and_can_be_retried(svc: Service) -> None:
    await svc.connect()
    event = call_event("call_nobody", prospect_id=None, task_id=None, to="+10000000000")
    await svc.post_event(event)
    dead = await _result(svc, event["id"])
    assert dead["kind"] == "dead" and dead["reason"] == "prospect not found in Outreach"
    assert (dead["call_id"], dead["team_id"], dead["rep_email"]) == ("call_nobody", "team_acme", "ana@acme.com")
    # An admin adds the number in Outreach; the operator retries.
    await svc.sandbox.create("phoneNumber", {"number": "+10000000000", "phoneType": "mobile"}, {"prospect": 3457})
    status, _ = await svc.ops_api("POST", f"/ops/api/dead-letters/{event['id']}/retry")
    assert status == 202
    [call] = await _logged(svc, "call_nobody")
    assert _rel(call, "prospect") == 3457
    assert (await svc.ops_api("POST", f"/ops/api/dead-letters/{event['id']}/retry"))[0] == 404


async def test_outreach_validation_error_is_dead_lettered_with_a_safe_reason(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=422)
    event = call_event("call_refused")
    await svc.post_event(event)
    dead = await _result(svc, event["id"])
    assert dead["kind"] == "dead" and dead["reason"].startswith("Outreach answered 422")
    assert await svc.calls("call_refused") == []


async def _no_job_left(svc: Service) -> bool:
    return await svc.redis.zcard(keys.QUEUE) == 0


async def _stat(svc: Service, name: str, at_least: int = 1) -> bool:
    """Whether a figure reached `at_least`, read once the worker's `calls_logged` is written (a figure counted
    before it, in the same process, is written by then)."""
    return (await svc.figures(calls_logged=1)).get(name, 0) >= at_least


async def test_unknown_prospect_id_is_dead_lettered(svc: Service) -> None:
    await svc.connect()
    for call_id, task_id in (("call_ghost", None), ("call_ghost_task", 1122)):  # the task is another prospect's
        event = call_event(call_id, prospect_id=99999, task_id=task_id)
        await svc.post_event(event)
        dead = await _result(svc, event["id"])
        assert (dead["kind"], dead["reason"]) == ("dead", "prospect not found in Outreach")
        assert await svc.calls(call_id) == []


# --- jobs that name their call: the event is read in the job's first round trip --------------------------------

async def _stored(svc: Service, call_id: str) -> str:
    """An event stored as ingress stores it, but not queued: the test runs its job itself."""
    event = call_event(call_id)
    await svc.redis.set(keys.event(event["id"]), orjson.dumps(event))
    return str(event["id"])


async def _run_job(svc: Service, event_id: str, call_ids: object) -> dict:  # type: ignore[type-arg]
    """The `log_call` job as arq would run it, with its own Services."""
    async with services_for(svc) as ctx:
        return await log_call(ctx, event_id, call_ids)


async def test_a_job_naming_its_call_logs_it_from_one_read(svc: Service) -> None:
    await svc.connect()
    event_id = await _stored(svc, "call_named")
    result = await _run_job(svc, event_id, ["team_acme", "call_named", "ana@acme.com"])
    assert result["status"] == "logged"
    assert len(await svc.calls("call_named")) == 1
    assert not await svc.redis.exists(keys.event(event_id))
    assert not await svc.redis.exists(keys.call_lock("team_acme", "call_named"))


async def test_a_job_naming_another_call_logs_its_event_and_frees_the_other(svc: Service) -> None:
    await svc.connect()
    event_id = await _stored(svc, "call_true")
    result = await _run_job(svc, event_id, ["team_acme", "call_wrong", "ana@acme.com"])
    assert result["status"] == "logged"
    assert len(await svc.calls("call_true")) == 1 and await svc.calls("call_wrong") == []
    assert not await svc.redis.exists(keys.call_lock("team_acme", "call_wrong"))
    assert await svc.redis.hget(keys.call_state("team_acme", "call_true"), "done") == b"1"


async def test_a_job_naming_its_call_whose_event_is_gone_holds_no_lock(svc: Service) -> None:
    await svc.connect()
    result = await _run_job(svc, "evt_gone", ["team_acme", "call_gone", "ana@acme.com"])
    malformed = await _run_job(svc, "evt_gone", ["team_acme", 7])
    assert result == {"status": "gone", "event_id": "evt_gone"} and malformed == result
    assert not await svc.redis.exists(keys.call_lock("team_acme", "call_gone"))
    assert await svc.calls("call_gone") == []


async def test_a_worker_killed_between_post_and_its_bookkeeping_leaves_a_call_the_next_attempt_adopts(
        svc: Service) -> None:
    """The worker dies after Outreach created the call and before the ledger learned of it: the next attempt's call
    step finds it by vendorCallId (its done-check) and adopts it: one call, its task completed."""
    await svc.connect()
    event_id = await _stored(svc, "call_killed")
    ids = ["team_acme", "call_killed", "ana@acme.com"]
    # The answer to POST /calls is dropped once the call is made, and every /calls request is slow: the worker is
    # killed while its done-check asks.
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", after_effect=True, drop=True)
    await svc.sandbox.faults(latency_by_prefix={"/api/v2/calls": 1500})
    async with services_for(svc) as ctx:
        job = asyncio.create_task(log_call(ctx, event_id, ids))
        await eventually(lambda: svc.calls("call_killed"))
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
    assert not await svc.redis.hget(keys.call_state("team_acme", "call_killed"), "step:call")
    await svc.sandbox.faults(latency_by_prefix={})
    result = await _run_job(svc, event_id, ids)
    [call] = await svc.calls("call_killed")
    assert result["status"] == "logged" and result["outreach_call_id"] == int(call["id"])
    assert await svc.task_state(1122) == "complete"
    assert await svc.redis.hget(keys.call_state("team_acme", "call_killed"), "done") == b"1"
    assert (await svc.figures(call_recovered=1))["call_recovered"] == 1


async def test_a_refused_task_completion_flags_the_step_and_the_call_stays_logged(svc: Service) -> None:
    """A 4xx on a step after the call (here markComplete) flags the event naming the step, Outreach's status and
    error id; it is not asked again when the job runs again."""
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/tasks/1122/actions/markComplete", method="POST", status=409)
    event = call_event("call_task_refused")
    await svc.post_event(event)
    [call] = await _logged(svc, "call_task_refused")
    flagged = await _result(svc, event["id"])
    assert flagged["kind"] == "flagged" and flagged["outreach_call_id"] == int(call["id"])
    [flag] = flagged["flags"]
    assert flag.startswith("task_refused:409:")
    assert await svc.task_state(1122) == "incomplete"
    ledger = await svc.redis.hgetall(keys.call_state("team_acme", "call_task_refused"))
    assert ledger[b"step:task"].decode() == flag and ledger[b"step:call"].decode() == str(call["id"])
