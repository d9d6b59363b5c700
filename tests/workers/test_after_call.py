"""The rep's outcome carried through Outreach, end to end: one signed event, the worker, the sandbox. Each action
exactly once per call_id (duplicates, a killed worker, answers dropped after Outreach committed, retries); a
refusal flags the event naming the action while the call and the other actions land."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from store import keys
from tests.support.nooks import call_event
from tests.support.outreach_hooks import services_for
from tests.support.service import Service, eventually
from workers.log_call import log_call

OUTCOME = {"sequence": "finish_replied", "follow_up": {"due_at": "2026-12-01T15:00:00Z", "note": "Send pricing"},
           "opt_out_of_calls": True, "add_to_sequence": {"sequence_id": 43}}


def _rel(record: dict[str, Any], name: str) -> int | None:
    return ((record["relationships"].get(name) or {}).get("data") or {}).get("id")


async def follow_ups(svc: Service, prospect: int = 3456) -> list[dict[str, Any]]:
    return [t for t in await svc.sandbox.records("task")
            if t["attributes"].get("taskType") == "manual" and _rel(t, "prospect") == prospect]


async def enrolments(svc: Service, prospect: int = 3456, sequence: int = 43) -> list[dict[str, Any]]:
    return [s for s in await svc.sandbox.records("sequenceState")
            if _rel(s, "prospect") == prospect and _rel(s, "sequence") == sequence]


async def outcome_of(svc: Service, event_id: str) -> dict[str, Any]:
    """The event's story, once the worker has settled it (logged)."""
    async def settled() -> dict[str, Any] | None:
        status, found = await svc.ops_api("GET", f"/ops/api/events/{event_id}")
        steps = [s["step"] for s in found.get("steps", [])] if status == 200 else []
        return found if "logged" in steps else None
    return await eventually(settled, timeout=20)


async def flags_of(svc: Service, event_id: str) -> list[str]:
    flagged = (await svc.ops_api("GET", "/ops/api/flagged"))[1]["flagged"]
    return next((f["flags"] for f in flagged if f["event_id"] == event_id), [])


async def test_every_action_lands_after_one_signed_event(svc: Service) -> None:
    await svc.connect()
    event = call_event("call_outcome", after_call=OUTCOME)
    assert (await svc.post_event(event))[0] == 202
    story = await outcome_of(svc, event["id"])
    [call] = await svc.calls("call_outcome")
    assert await svc.task_state(1122) == "complete"
    assert (await svc.sandbox.record("sequenceState", 7001))["attributes"]["state"] == "finished"
    [task] = await follow_ups(svc)
    attrs = task["attributes"]
    assert (attrs["action"], attrs["state"], attrs["dueAt"]) == ("call", "incomplete", "2026-12-01T15:00:00.000Z")
    assert attrs["note"] == "Send pricing\n\n[nooks:call_outcome]" and _rel(task, "owner") == 1
    prospect = await svc.sandbox.record("prospect", 3456)
    assert prospect["attributes"]["callsOptStatus"] == "opted_out" and prospect["attributes"]["callOptedOut"] is False
    [state] = await enrolments(svc)
    assert state["attributes"]["state"] == "active" and _rel(state, "mailbox") == 1
    steps = [s["step"] for s in story["steps"]]
    for step in ("call_written", "task_completed", "sequence_finished", "follow_up_created", "opted_out_of_calls",
                 "enrolled_in_sequence"):
        assert step in steps, steps
    assert await flags_of(svc, event["id"]) == [] and int(call["id"]) == story["outreach_call_id"]
    ledger = await svc.redis.hgetall(keys.call_state("team_acme", "call_outcome"))
    assert ledger[b"step:follow_up"].decode() == str(task["id"]) and ledger[b"step:enrol"].decode() == str(state["id"])


async def test_reschedule_and_pause(svc: Service) -> None:
    await svc.connect()
    event = call_event("call_later", prospect_id=3457, task_id=1123,
                       after_call={"task": "reschedule", "task_due_at": "2026-12-03T09:30:00-05:00",
                                   "sequence": "pause"})
    await svc.post_event(event)
    story = await outcome_of(svc, event["id"])
    task = await svc.sandbox.record("task", 1123)
    assert task["attributes"]["state"] == "incomplete" and task["attributes"]["dueAt"] == "2026-12-03T14:30:00.000Z"
    assert (await svc.sandbox.record("sequenceState", 7002))["attributes"]["state"] == "paused"
    assert {"task_rescheduled", "sequence_paused"} <= {s["step"] for s in story["steps"]}
    assert await flags_of(svc, event["id"]) == []


async def test_a_team_rule_and_the_calls_own_fields(svc: Service) -> None:
    await svc.connect()
    rules = {"rules": [{"disposition_id": 7, "after_call": {
        "follow_up": {"after": "P2D", "note": "rule's note"}, "opt_out_of_calls": True}}]}
    assert (await svc.api("PUT", "/v1/teams/team_acme/call-outcome-rules", json=rules))[0] == 200
    # By name ("Left Voicemail" is 7): the rule applies; the call's own follow_up replaces the rule's whole.
    event = call_event("call_ruled", disposition_id=None, disposition="Left Voicemail", task_id=None,
                       after_call={"follow_up": {"after": "PT4H"}})
    await svc.post_event(event)
    await outcome_of(svc, event["id"])
    [task] = await follow_ups(svc)
    # ended 12:59:44 (answered 12:58:09 + 95 s) + 4 h; the rule's note does not survive
    assert task["attributes"]["dueAt"] == "2026-11-29T16:59:44.000Z"
    assert task["attributes"]["note"] == "[nooks:call_ruled]"
    assert (await svc.sandbox.record("prospect", 3456))["attributes"]["callsOptStatus"] == "opted_out"


async def test_a_refused_enrolment_flags_the_event_and_the_rest_lands(svc: Service) -> None:
    """Eli (3457) is active in sequence 41 already: Outreach refuses the enrolment; the call, the task's
    completion, the follow-up and the opt-out all land, and the flag names the action, status and error id."""
    await svc.connect()
    event = call_event("call_refused_enrol", prospect_id=3457, task_id=1123, after_call={
        "task": "keep", "follow_up": {"after": "P1D"}, "opt_out_of_calls": True,
        "add_to_sequence": {"sequence_id": 41}})
    await svc.post_event(event)
    story = await outcome_of(svc, event["id"])
    assert len(await svc.calls("call_refused_enrol")) == 1
    assert len(await follow_ups(svc, 3457)) == 1
    assert (await svc.sandbox.record("prospect", 3457))["attributes"]["callsOptStatus"] == "opted_out"
    assert len(await enrolments(svc, 3457, 41)) == 1  # only the seeded 7002
    assert await flags_of(svc, event["id"]) == ["enrol_refused:422:validationError"]
    refused = next(s for s in story["steps"] if s["step"] == "enrol_refused")
    assert "422" in refused["detail"] and "already" not in refused["detail"]  # never Outreach's detail
    overview = (await svc.ops_api("GET", "/ops/api/summary"))[1]
    assert overview["flagged_actions"] == {"enrol": 1}


async def test_what_only_outreach_can_tell_is_flagged_and_not_done(svc: Service) -> None:
    """Cleo has no mailbox that may send; task 1125 has no sequence state to pause or finish."""
    await svc.connect()
    await svc.connect(rep_email="cleo@acme.com")
    enrol = call_event("call_no_mailbox", rep_email="cleo@acme.com", prospect_id=3461, task_id=None,
                       after_call={"add_to_sequence": {"sequence_id": 43}})
    pause = call_event("call_no_state", task_id=1125, after_call={"sequence": "finish_no_reply"})
    unpaused = call_event("call_no_task", task_id=None, after_call={"sequence": "pause"})
    for event in (enrol, pause, unpaused):
        await svc.post_event(event)
    for event in (enrol, pause, unpaused):
        await outcome_of(svc, event["id"])
    assert await flags_of(svc, enrol["id"]) == ["enrol_refused:no_mailbox"]
    assert await flags_of(svc, pause["id"]) == ["sequence_refused:no_sequence_state"]
    assert await svc.task_state(1125) == "complete"
    assert await flags_of(svc, unpaused["id"]) == ["pause_refused:no_sequence_state"]
    assert await enrolments(svc, 3461) == []


# --- exactly once ---------------------------------------------------------------------------------------------

async def _one_each(svc: Service, call_id: str) -> None:
    assert len(await svc.calls(call_id)) == 1
    assert len(await follow_ups(svc)) == 1
    assert len(await enrolments(svc)) == 1


async def test_duplicate_deliveries_give_one_follow_up_and_one_enrolment(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.faults(latency_ms=20)
    event = call_event("call_dup_outcome", after_call=OUTCOME)
    raw = orjson.dumps(event)
    answers = await asyncio.gather(svc.post_event(raw, msg_id="dup_same"), svc.post_event(raw, msg_id="dup_same"),
                                   *(svc.post_event(call_event("call_dup_outcome", after_call=OUTCOME))
                                     for _ in range(6)))
    assert sorted(status for status, _ in answers) == [200, *[202] * 7]
    await eventually(lambda: _figure(svc, "calls_duplicate", 6), timeout=20)
    await _one_each(svc, "call_dup_outcome")


async def test_answers_dropped_after_commit_give_one_follow_up_and_one_enrolment(svc: Service) -> None:
    await svc.connect()
    for path in ("/api/v2/tasks", "/api/v2/sequenceStates"):
        await svc.sandbox.fail_next(path, method="POST", after_effect=True, drop=True)
    event = call_event("call_dropped_outcome", after_call=OUTCOME)
    await svc.post_event(event)
    await outcome_of(svc, event["id"])
    await _one_each(svc, "call_dropped_outcome")
    figures = await svc.figures(follow_up_recovered=1, enrol_recovered=1)
    assert figures["follow_up_recovered"] == 1 and figures["enrol_recovered"] == 1
    assert await flags_of(svc, event["id"]) == []


async def test_a_worker_killed_after_outreach_committed_leaves_nothing_doubled(svc: Service) -> None:
    """The worker is killed after Outreach created the follow-up (its answer lost, the done-check slow) and
    before the ledger knew; the next attempt finds the task by its note's marker. The same for the enrolment."""
    await svc.connect()
    event = call_event("call_killed_outcome", after_call=OUTCOME)
    await svc.redis.set(keys.event(event["id"]), orjson.dumps(event))
    ids = ["team_acme", "call_killed_outcome", "ana@acme.com"]
    for path, records in (("/api/v2/tasks", follow_ups), ("/api/v2/sequenceStates", enrolments)):
        await svc.sandbox.fail_next(path, method="POST", after_effect=True, drop=True)
        await svc.sandbox.faults(latency_by_prefix={path: 400})  # the done-check after the lost answer hangs
        async with services_for(svc) as ctx:
            job = asyncio.create_task(log_call(ctx, event["id"], ids))
            await eventually(lambda: records(svc))
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
        await svc.sandbox.faults(latency_by_prefix={})
    ledger = await svc.redis.hgetall(keys.call_state("team_acme", "call_killed_outcome"))
    assert b"step:enrol" not in ledger and b"done" not in ledger
    async with services_for(svc) as ctx:
        result = await log_call(ctx, event["id"], ids)
    assert result["status"] == "logged" and result["flags"] == []
    await _one_each(svc, "call_killed_outcome")
    assert await svc.task_state(1122) == "complete"


async def test_5xx_on_an_action_retries_the_job_without_repeating_what_is_done(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/sequenceStates", method="POST", status=503, count=4)
    event = call_event("call_retried_outcome", after_call=OUTCOME)
    await svc.post_event(event)
    story = await outcome_of(svc, event["id"])
    await _one_each(svc, "call_retried_outcome")
    steps = [s["step"] for s in story["steps"]]
    assert steps.count("follow_up_created") == 1 and steps.count("task_completed") == 1
    assert "attempt_failed" in steps  # the job backed off once the quick retries were spent
    assert await flags_of(svc, event["id"]) == []
    posts = [r for r in await svc.sandbox.requests(path_prefix="/api/v2/tasks") if r["method"] == "POST"]
    assert len([r for r in posts if r["path"] == "/api/v2/tasks"]) == 1
    assert len([r for r in posts if r["path"].endswith("markComplete")]) == 1


async def _figure(svc: Service, name: str, least: int) -> bool:
    return (await svc.figures()).get(name, 0) >= least
