"""The sandbox refuses what Outreach's OpenAPI refuses, and serves what it allows (docs/sandbox.md)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import contract
from sandbox.audit import Exchange
from sandbox.schema import TYPES
from tests.sandbox.conftest import Api, call_body
from tests.support import conformance


def test_types_come_from_the_spec() -> None:
    task = contract.types()["task"]
    assert "callPurpose" not in task.relationships  # the sandbox once gave tasks one: Outreach has none
    assert task.relationships["taskPurpose"].target == "taskPurpose"
    assert task.attributes["dueAt"].filterable and task.attributes["dueAt"].sortable
    assert not task.attributes["action"].filterable and task.attributes["state"].readonly
    assert task.relationships["owner"].filter_by == {"id", "email", "firstName"}
    assert task.relationships["creator"].filter_by == frozenset()  # "cannot be used as a filter"
    assert task.relationships["calls"].many and not task.relationships["calls"].linkage
    assert "name" not in contract.types()["sequenceStep"].attributes
    assert not contract.types()["call"].attributes["vendorCallId"].filterable
    assert TYPES["prospect"].to_many["phoneNumbers"] == ("phoneNumber", "prospect")
    assert contract.by_plural()["taskPurposes"].name == "taskPurpose"


@pytest.mark.parametrize(("params", "error", "parameter"), [
    ({"include": "callPurpose"}, "invalidInclude", "include"),
    ({"include": "sequenceStep.name"}, "invalidInclude", "include"),
    ({"filter[action]": "call"}, "filterError", "filter[action]"),
    ({"filter[taskPurpose][id]": "1"}, "filterError", "filter[taskPurpose][id]"),
    ({"filter[owner][lastName]": "Ruiz"}, "filterError", "filter[owner][lastName]"),
    ({"filter[prospect]": "3456"}, "filterError", "filter[prospect]"),
    ({"sort": "note"}, "invalidSort", "sort"),
    ({"fields[task]": "dueAt,callPurpose"}, "invalidFields", "fields[task]"),
    ({"fields[sequenceStep]": "name"}, "invalidFields", "fields[sequenceStep]"),
    ({"fields[nothing]": "x"}, "invalidFields", "fields[nothing]"),
    ({"pageSize": "5"}, "invalidParameter", "pageSize"),
])
async def test_queries_outside_the_contract_are_400(ana: Api, params: dict[str, str], error: str,
                                                     parameter: str) -> None:
    status, body, _ = await ana.request("GET", "/tasks", **params)
    assert status == 400, body
    assert body["errors"][0]["id"] == error and body["errors"][0]["source"] == {"parameter": parameter}


async def test_member_reads_take_include_and_fields_only(ana: Api) -> None:
    status, body, _ = await ana.request("GET", "/tasks/1122", **{"filter[state]": "incomplete"})
    assert status == 400 and body["errors"][0]["id"] == "filterError"
    task = await ana.get("/tasks/1122", include="taskPurpose,sequenceStep.callPurpose",
                         **{"fields[task]": "dueAt,sequenceStep,taskPurpose"})
    assert set(task["data"]["attributes"]) == {"dueAt"}
    assert set(task["data"]["relationships"]) == {"sequenceStep", "taskPurpose"}
    assert {(r["type"], r["id"]) for r in task["included"]} == {("sequenceStep", 202), ("callPurpose", 1)}


async def test_relationship_filters_the_description_allows(ana: Api) -> None:
    by_email = await ana.get("/tasks", **{"filter[owner][email]": "ben@acme.com", "filter[state]": "incomplete"})
    assert {t["id"] for t in by_email["data"]} == {1128, 1129, 1132}
    by_step_type = await ana.get("/tasks", **{"filter[sequenceStep][stepType]": "call", "filter[owner][id]": "1"})
    assert {t["id"] for t in by_step_type["data"]} == {1122, 1123}
    purposed = await ana.get("/tasks", include="taskPurpose", **{"filter[id]": "1125"})
    assert purposed["included"] == [{**purposed["included"][0], "type": "taskPurpose", "id": 2}]


async def test_to_many_relationships_the_data_allows(ana: Api) -> None:
    prospect = (await ana.get("/prospects/3456"))["data"]["relationships"]
    assert prospect["phoneNumbers"]["data"] == [{"type": "phoneNumber", "id": i} for i in (9001, 9002)]
    tasks_link = prospect["tasks"]["links"]["related"]  # the spec serves prospect.tasks as a link only
    assert "data" not in prospect["tasks"] and "filter%5Bprospect%5D%5Bid%5D=3456" in tasks_link
    related = await ana.get(tasks_link)
    assert {t["id"] for t in related["data"]} >= {1122, 1125}


@pytest.mark.parametrize(("change", "pointer"), [
    (lambda d: d["attributes"].update(state="completed"), "/data/attributes/state"),  # read-only
    (lambda d: d["attributes"].update(duration=95), "/data/attributes/duration"),  # unknown
    (lambda d: d["attributes"].update(vendorCallId="x" * 64), "/data/attributes/vendorCallId"),  # maxLength 63
    (lambda d: d["attributes"].update(tags="a"), "/data/attributes/tags"),  # an array
    (lambda d: d["relationships"].update(associatedId={"data": {"type": "account", "id": 501}}),
     "/data/relationships/associatedId"),  # read-only
    (lambda d: d["relationships"].update(prospect={"data": {"type": "account", "id": 501}}),
     "/data/relationships/prospect"),  # wrong type
    (lambda d: d.update(type="calls"), "/data/type"),
])
async def test_bodies_outside_the_contract_are_422_with_a_pointer(ana: Api, change: Any, pointer: str) -> None:
    body = call_body()
    change(body["data"])
    status, answer, _ = await ana.request("POST", "/calls", body)
    assert status == 422, answer
    assert answer["errors"][0]["id"] == "validationError" and answer["errors"][0]["source"] == {"pointer": pointer}


async def test_wrong_content_type_and_methods_the_spec_lacks(ana: Api) -> None:
    async with ana.http.post(f"{ana.base}/calls", data=b'{"data": {}}',
                             headers={**ana.headers(), "Content-Type": "application/json"}) as r:
        assert r.status == 415 and (await r.json(content_type=None))["errors"][0]["id"] == "unsupportedMediaType"
    for method, path in (("PATCH", "/calls/1"), ("DELETE", "/users/1"), ("PUT", "/tasks")):
        assert (await ana.request(method, path, {"data": {"type": "x"}}))[0] == 405


async def test_task_actions_take_only_declared_action_params(ana: Api) -> None:
    status, body, _ = await ana.request("POST", "/tasks/1123/actions/markComplete", **{"actionParams[nope]": "1"})
    assert status == 400 and body["errors"][0]["id"] == "invalidParameter"
    ok, _, _ = await ana.request("POST", "/tasks/1123/actions/markComplete", **{"actionParams[completionNote]": "n"})
    assert ok == 200


def exchange(query: list[tuple[str, str]], body: bytes = b"", method: str = "GET", path: str = "/tasks") -> Exchange:
    return Exchange(method, path, query, "nooks-outreach-sync/1", "application/vnd.api+json", body)


def test_the_traffic_check_refuses_what_outreach_would() -> None:
    """The regression net's own check: a recorded shape is judged by names and include/fields/sort values."""
    good = exchange([("include", "taskPurpose,sequenceStep.callPurpose"), ("filter[owner][id]", "1"),
                     ("fields[sequenceStep]", "displayName")])
    bad = exchange([("include", "prospect,callPurpose"), ("filter[owner][id]", "1")])
    body = b'{"data": {"type": "call", "attributes": {"duration": 5}, "relationships": {}}}'
    bad_body = exchange([], body, "POST", "/calls")
    saved = set(conformance.TRAFFIC)
    conformance.TRAFFIC.clear()
    try:
        conformance.TRAFFIC.update(conformance.signature(e) for e in (good, bad, bad_body))
        assert conformance.signature(bad)[2] == (("filter[owner][id]", ""), ("include", "prospect,callPurpose"))
        problems = conformance.traffic_problems()
    finally:
        conformance.TRAFFIC.clear()
        conformance.TRAFFIC.update(saved)
    assert len(problems) == 2
    assert any("GET /tasks?" in p and "invalidInclude" in p and "'callPurpose'" in p for p in problems)
    assert any("POST /calls" in p and "'duration' is not a valid attribute" in p for p in problems)
