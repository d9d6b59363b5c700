"""The Outreach writes that carry a call's outcome: new tasks, opt-out, enrolment, sequence state actions, task
reschedule/snooze/completion actions, mailboxes per user, and the drop-after-commit fault on each."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sandbox.client import SandboxControl

from .conftest import Api


def task_body(**relationships: Any) -> dict[str, Any]:
    rels = {"owner": {"data": {"type": "user", "id": 1}}, "subject": {"data": {"type": "prospect", "id": 3456}},
            **relationships}
    return {"data": {"type": "task", "attributes": {"action": "call", "dueAt": "2030-01-02T15:00:00Z",
                                                     "note": "Send pricing"}, "relationships": rels}}


def enrol_body(prospect: int = 3456, sequence: int = 43, mailbox: int = 1) -> dict[str, Any]:
    return {"data": {"type": "sequenceState", "relationships": {
        "prospect": {"data": {"type": "prospect", "id": prospect}},
        "sequence": {"data": {"type": "sequence", "id": sequence}},
        "mailbox": {"data": {"type": "mailbox", "id": mailbox}},
    }}}


def rel(record: dict[str, Any], name: str) -> Any:
    data = record["relationships"].get(name, {}).get("data")
    return data["id"] if isinstance(data, dict) else None


async def test_create_call_task_on_a_prospect(ana: Api) -> None:
    status, body, _ = await ana.request("POST", "/tasks", task_body())
    assert status == 201, body
    task = body["data"]
    assert task["attributes"]["action"] == "call" and task["attributes"]["taskType"] == "manual"
    assert task["attributes"]["state"] == "incomplete" and task["attributes"]["dueAt"] == "2030-01-02T15:00:00Z"
    assert (rel(task, "prospect"), rel(task, "account"), rel(task, "owner")) == (3456, 501, 1)
    found = await ana.get("/tasks", **{"filter[prospect][id]": "3456", "filter[state]": "incomplete"})
    assert task["id"] in [t["id"] for t in found["data"]]


@pytest.mark.parametrize(("change", "pointer"), [
    ({"relationships": {"prospect": {"data": {"type": "prospect", "id": 3456}}}}, "/data/relationships/prospect"),
    ({"attributes": {"action": "call", "note": "x"}}, "/data/attributes/dueAt"),
    ({"attributes": {"action": "phone", "dueAt": "2030-01-02T15:00:00Z"}}, "/data/attributes/action"),
    ({"relationships": {"owner": {"data": None}}}, "/data/relationships/owner"),
    ({"relationships": {"subject": {"data": {"type": "prospect", "id": 999999}}}}, "/data/relationships/subject"),
    ({"relationships": {"subject": {"data": {"type": "user", "id": 1}}}}, "/data/relationships/subject"),
])
async def test_create_task_refusals(ana: Api, control: SandboxControl, change: dict[str, Any], pointer: str) -> None:
    body = task_body()
    for part, values in change.items():
        if part == "attributes":
            body["data"]["attributes"] = values
        else:
            body["data"]["relationships"].update(values)
    status, answer, _ = await ana.request("POST", "/tasks", body)
    assert status == 422 and answer["errors"][0]["source"]["pointer"] == pointer
    assert not [t for t in await control.records("task") if t["attributes"].get("taskType") == "manual"]


async def test_calls_opt_status(ana: Api, control: SandboxControl) -> None:
    patch = {"data": {"type": "prospect", "id": 3456, "attributes": {"callsOptStatus": "opted_out"}}}
    status, body, _ = await ana.request("PATCH", "/prospects/3456", patch)
    assert status == 200 and body["data"]["attributes"]["callsOptStatus"] == "opted_out"
    assert body["data"]["attributes"]["callOptedOut"] is False  # the granular opt-out touches only calls
    patch["data"]["attributes"]["callsOptStatus"] = "yes please"
    status, body, _ = await ana.request("PATCH", "/prospects/3456", patch)
    assert status == 422 and body["errors"][0]["source"]["pointer"] == "/data/attributes/callsOptStatus"


async def test_enrol_then_refuse_a_second_enrolment(ana: Api, control: SandboxControl) -> None:
    status, body, _ = await ana.request("POST", "/sequenceStates", enrol_body())
    assert status == 201, body
    state = body["data"]
    assert state["attributes"]["state"] == "active"
    assert (rel(state, "sequenceStep"), rel(state, "mailbox"), rel(state, "user"), rel(state, "account")) == (
        221, 1, 1, 501)
    status, body, _ = await ana.request("POST", "/sequenceStates", enrol_body())
    assert status == 422 and body["errors"][0]["source"]["pointer"] == "/data/relationships/prospect"
    mine = await ana.get("/sequenceStates", **{"filter[prospect][id]": "3456", "filter[sequence][id]": "43"})
    assert [s["id"] for s in mine["data"]] == [state["id"]]
    # Once finished, the prospect may be enrolled again.
    assert (await ana.request("POST", f"/sequenceStates/{state['id']}/actions/finish"))[0] == 200
    assert (await ana.request("POST", "/sequenceStates", enrol_body()))[0] == 201


@pytest.mark.parametrize(("body", "pointer"), [
    (enrol_body(mailbox=2), "/data/relationships/mailbox"),  # sendDisabled
    ({"data": {"type": "sequenceState", "relationships": {
        "prospect": {"data": {"type": "prospect", "id": 3456}},
        "sequence": {"data": {"type": "sequence", "id": 43}}}}}, "/data/relationships/mailbox"),
    ({"data": {"type": "sequenceState", "attributes": {"state": "active"}, "relationships": {}}},
     "/data/attributes/state"),  # read-only
])
async def test_enrolment_refusals(ana: Api, control: SandboxControl, body: dict[str, Any], pointer: str) -> None:
    status, answer, _ = await ana.request("POST", "/sequenceStates", body)
    assert status == 422 and answer["errors"][0]["source"]["pointer"] == pointer
    assert len(await control.records("sequenceState")) == 3  # the seeded ones


async def test_sequence_state_actions(ana: Api, control: SandboxControl) -> None:
    assert (await ana.request("POST", "/sequenceStates/7001/actions/resume"))[0] == 422  # active, not paused
    status, body, _ = await ana.request("POST", "/sequenceStates/7001/actions/pause")
    assert status == 200 and body["data"]["attributes"]["state"] == "paused"
    assert (await ana.request("POST", "/sequenceStates/7001/actions/pause"))[0] == 422
    status, body, _ = await ana.request("POST", "/sequenceStates/7001/actions/resume")
    assert status == 200 and body["data"]["attributes"]["state"] == "active"
    status, body, _ = await ana.request("POST", "/sequenceStates/7001/actions/finish")
    assert status == 200 and body["data"]["attributes"]["state"] == "finished"
    assert (await ana.request("POST", "/sequenceStates/7001/actions/finish"))[0] == 422
    status, body, _ = await ana.request("POST", "/sequenceStates/7002/actions/pause", **{"actionParams[x]": "1"})
    assert status == 400 and body["errors"][0]["id"] == "invalidParameter"  # the spec declares no parameters
    assert (await ana.request("POST", "/sequenceStates/7002/actions/explode"))[0] == 404
    assert (await ana.request("POST", "/sequenceStates/999/actions/pause"))[0] == 404


async def test_mark_complete_finishes_the_sequence(ana: Api, control: SandboxControl) -> None:
    status, _, _ = await ana.request("POST", "/tasks/1122/actions/markComplete",
                                     **{"actionParams[completionAction]": "finish_replied"})
    assert status == 200
    assert (await control.record("sequenceState", 7001))["attributes"]["state"] == "finished"


async def test_reschedule_and_snooze(ana: Api) -> None:
    status, body, _ = await ana.request("POST", "/tasks/1122/actions/reschedule")
    assert status == 422  # dueAt is required
    status, body, _ = await ana.request("POST", "/tasks/1122/actions/reschedule",
                                        **{"actionParams[dueAt]": "2030-05-01T09:00:00+02:00"})
    assert status == 200 and body["data"]["attributes"]["dueAt"] == "2030-05-01T07:00:00.000Z"
    status, body, _ = await ana.request("POST", "/tasks/1123/actions/snooze",
                                        **{"actionParams[dueAt]": "2030-06-01T09:00:00Z"})
    assert status == 200 and body["data"]["attributes"]["dueAt"] == "2030-06-01T09:00:00.000Z"
    assert (await ana.request("POST", "/tasks/1127/actions/reschedule",
                              **{"actionParams[dueAt]": "2030-06-01T09:00:00Z"}))[0] == 422  # complete


async def test_mailboxes_per_user(ana: Api) -> None:
    found = await ana.get("/mailboxes", **{"filter[userId]": "2", "sort": "id"})
    assert [(m["id"], m["attributes"]["sendDisabled"]) for m in found["data"]] == [(2, True), (12, False)]
    by_rel = await ana.get("/mailboxes", **{"filter[user][id]": "3"})
    assert [m["id"] for m in by_rel["data"]] == [3]


async def test_pickers_reads(ana: Api) -> None:
    dispositions = await ana.get("/callDispositions", sort="order")
    assert [d["attributes"]["order"] for d in dispositions["data"]] == [1, 3, 5, 6, 7, 9]
    first = await ana.get("/sequences", sort="name", **{"page[size]": "2"})
    names = [s["attributes"]["name"] for s in first["data"]]
    second = await ana.get(first["links"]["next"])
    names += [s["attributes"]["name"] for s in second["data"]]
    assert names == ["Archived Outbound", "Inbound Follow-up", "Nurture: Post-call", "Q4 Outbound"]
    assert "next" not in second["links"]
    assert second["data"][-1]["attributes"]["enabled"] is True
    assert first["data"][0]["attributes"]["enabled"] is False


@pytest.mark.parametrize(("method", "path", "body", "params"), [
    ("POST", "/tasks", task_body(), {}),
    ("POST", "/sequenceStates", enrol_body(), {}),
    ("PATCH", "/prospects/3456", {"data": {"type": "prospect", "id": 3456,
                                           "attributes": {"callsOptStatus": "opted_out"}}}, {}),
    ("POST", "/sequenceStates/7001/actions/pause", None, {}),
    ("POST", "/tasks/1125/actions/reschedule", None, {"actionParams[dueAt]": "2030-01-01T00:00:00Z"}),
])
async def test_each_write_commits_when_its_answer_is_dropped(
    ana: Api, control: SandboxControl, method: str, path: str, body: Any, params: dict[str, str]
) -> None:
    before = await control.state()
    await control.fail_next(f"/api/v2{path}", method=method, drop=True, after_effect=True)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
        await ana.request(method, path, body, **params)
    after = await control.state()
    if path == "/tasks":
        assert after["records"]["task"] == before["records"]["task"] + 1
    elif path == "/sequenceStates":
        assert after["records"]["sequenceState"] == before["records"]["sequenceState"] + 1
    elif path.startswith("/prospects"):
        assert (await control.record("prospect", 3456))["attributes"]["callsOptStatus"] == "opted_out"
    elif "pause" in path:
        assert (await control.record("sequenceState", 7001))["attributes"]["state"] == "paused"
    else:
        assert (await control.record("task", 1125))["attributes"]["dueAt"] == "2030-01-01T00:00:00.000Z"
