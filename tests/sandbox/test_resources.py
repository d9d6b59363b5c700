from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from sandbox import RunningSandbox
from sandbox.client import SandboxControl

from .conftest import Api, call_body


async def test_seeded_ids_and_dispositions(ana: Api) -> None:
    dispositions = (await ana.get("/callDispositions"))["data"]
    assert {(d["id"], d["attributes"]["outcome"]) for d in dispositions} == {
        (1, "completed"),
        (3, "completed"),
        (5, "completed"),
        (6, "no_answer"),
        (7, "no_answer"),
        (9, "no_answer"),
    }
    task = (await ana.get("/tasks/1122"))["data"]
    rels = {k: v["data"]["id"] for k, v in task["relationships"].items() if isinstance(v.get("data"), dict)}
    assert rels["prospect"] == 3456 and rels["sequence"] == 41 and rels["sequenceStep"] == 202 and rels["owner"] == 1
    prospect = (await ana.get("/prospects/3456"))["data"]
    assert prospect["attributes"]["mobilePhones"] == ["+14155551234"]
    assert prospect["relationships"]["account"]["data"] == {"type": "account", "id": 501}


async def test_unknown_record_and_route(ana: Api) -> None:
    status, body, headers = await ana.request("GET", "/prospects/999999")
    assert status == 404 and body["errors"][0]["id"] == "resourceNotFound"
    assert headers["Content-Type"] == "application/vnd.api+json"


async def test_wrong_media_type_is_415(ana: Api, http: aiohttp.ClientSession) -> None:
    headers = {**ana.headers(), "Content-Type": "application/json"}
    async with http.post(f"{ana.base}/calls", json=call_body(), headers=headers) as r:
        assert r.status == 415
        assert (await r.json(content_type=None))["errors"][0]["id"] == "unsupportedMediaType"


async def test_malformed_json_is_400(ana: Api, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{ana.base}/calls", data=b"{nope", headers=ana.headers()) as r:
        assert r.status == 400


async def test_create_call_validation(ana: Api, control: SandboxControl) -> None:
    status, body, _ = await ana.request("POST", "/calls", call_body(duration=95))
    assert status == 422
    error = body["errors"][0]
    assert error["id"] == "validationError" and error["source"]["pointer"] == "/data/attributes/duration"
    status, body, _ = await ana.request("POST", "/calls", call_body(vendorCallId="x" * 64))
    assert status == 422 and body["errors"][0]["source"]["pointer"] == "/data/attributes/vendorCallId"
    status, body, _ = await ana.request("POST", "/calls", call_body(recordingUrl="ftp://x"))
    assert status == 422
    bad_rel = call_body()
    bad_rel["data"]["relationships"]["callDisposition"] = {"data": {"type": "callDisposition", "id": 2}}
    status, body, _ = await ana.request("POST", "/calls", bad_rel)
    assert status == 422 and body["errors"][0]["source"]["pointer"] == "/data/relationships/callDisposition"
    no_prospect = call_body()
    del no_prospect["data"]["relationships"]["prospect"]
    assert (await ana.request("POST", "/calls", no_prospect))[0] == 422
    assert await control.records("call") == []


async def test_create_call_links_task_and_delete(ana: Api) -> None:
    body = call_body(answeredAt="2026-11-29T12:58:09Z", completedAt="2026-11-29T13:00:00Z")
    body["data"]["relationships"]["task"] = {"data": {"type": "task", "id": 1122}}
    status, created, _ = await ana.request("POST", "/calls", body)
    assert status == 201
    call = created["data"]
    assert call["relationships"]["user"]["data"] == {"type": "user", "id": 1}
    assert call["attributes"]["state"] and call["attributes"]["uid"]
    task = (await ana.get("/tasks/1122"))["data"]
    # The spec serves task.calls as `links.related` only (no `data`): follow the link.
    calls = task["relationships"]["calls"]
    assert "data" not in calls
    assert [c["id"] for c in (await ana.get(calls["links"]["related"]))["data"]] == [call["id"]]
    listed = await ana.get("/calls", **{"filter[prospect][id]": "3456", "filter[outcome]": "Answered"})
    assert [c["id"] for c in listed["data"]] == [call["id"]]
    status, body, _ = await ana.request("PATCH", f"/calls/{call['id']}", {"data": {"type": "call", "id": call["id"]}})
    assert status in (404, 405) and body["errors"]
    assert (await ana.request("DELETE", f"/calls/{call['id']}"))[0] == 204
    assert (await ana.request("GET", f"/calls/{call['id']}"))[0] == 404


async def test_unfilterable_attributes_are_400(ana: Api) -> None:
    for params in ({"filter[vendorCallId]": "x"}, {"filter[nope]": "1"}):
        status, body, _ = await ana.request("GET", "/calls", **params)
        assert status == 400 and body["errors"][0]["id"] == "filterError"
    status, _, _ = await ana.request("GET", "/tasks", **{"filter[action]": "call"})
    assert status == 400


async def test_filters_lists_ranges_relationships(ana: Api) -> None:
    ids = await ana.get("/callDispositions", **{"filter[id]": "1,3,9", "sort": "-id"})
    assert [d["id"] for d in ids["data"]] == [9, 3, 1]
    ranged = await ana.get("/callDispositions", **{"filter[order]": "3..6"})
    assert [d["id"] for d in ranged["data"]] == [3, 5, 6]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    due = await ana.get(
        "/tasks",
        **{
            "filter[owner][id]": "1",
            "filter[state]": "incomplete",
            "filter[dueAt]": f"neginf..{now}",
            "page[size]": "1000",
        },
    )
    due_ids = {t["id"] for t in due["data"]}
    assert {1122, 1123, 1124, 1126, 1131, 2001} <= due_ids and 1125 not in due_ids and 1127 not in due_ids
    assert all(t["relationships"]["owner"]["data"]["id"] == 1 for t in due["data"])
    future = await ana.get("/tasks", **{"filter[owner][id]": "1,2", "filter[dueAt]": f"{now}..inf"})
    assert {t["id"] for t in future["data"]} == {1125, 1129}
    phones = await ana.get("/phoneNumbers", **{"filter[number]": "+14155551234"})
    assert [p["relationships"]["prospect"]["data"]["id"] for p in phones["data"]] == [3456]
    user = await ana.get("/users", **{"filter[email]": "cleo@acme.com"})
    assert [u["id"] for u in user["data"]] == [3]
    by_email = await ana.get("/prospects", **{"filter[emails]": "dana.whitfield@globex.example"})
    assert [p["id"] for p in by_email["data"]] == [3456]


async def test_pagination_follows_links_next(ana: Api) -> None:
    url = "/tasks"
    params = {
        "filter[owner][id]": "1",
        "filter[state]": "incomplete",
        "page[size]": "25",
        "count": "false",
        "sort": "dueAt",
    }
    seen: list[int] = []
    pages = 0
    body = await ana.get(url, **params)
    while True:
        pages += 1
        seen += [t["id"] for t in body["data"]]
        nxt = body["links"].get("next")
        if not nxt:
            break
        assert "page%5Bafter%5D=" in nxt and "filter%5Bowner%5D%5Bid%5D=1" in nxt and nxt.startswith("http")
        body = await ana.get(nxt)
    assert len(seen) == len(set(seen)) == 66 and pages == 3
    dues = [(await ana.get(f"/tasks/{i}"))["data"]["attributes"]["dueAt"] for i in seen[:5]]
    assert dues == sorted(dues)


async def test_include_and_sparse_fields(ana: Api) -> None:
    body = await ana.get(
        "/tasks",
        **{
            "filter[id]": "1122,1123,1125",
            "include": "prospect,account,sequence,sequenceStep",
            "fields[prospect]": "firstName,lastName",
        },
    )
    included = {(r["type"], r["id"]) for r in body["included"]}
    assert included == {
        ("prospect", 3456),
        ("prospect", 3457),
        ("account", 501),
        ("account", 502),
        ("sequence", 41),
        ("sequenceStep", 202),
    }
    dana = next(r for r in body["included"] if r["id"] == 3456)
    assert set(dana["attributes"]) == {"firstName", "lastName"}
    nested = await ana.get("/tasks/1122", include="prospect.phoneNumbers,sequenceStep.callPurpose")
    assert {(r["type"], r["id"]) for r in nested["included"]} >= {("phoneNumber", 9001), ("callPurpose", 1)}
    status, body, _ = await ana.request("GET", "/tasks", include="nope")
    assert status == 400


async def test_mark_complete_via_query_string(ana: Api, control: SandboxControl) -> None:
    status, body, _ = await ana.request(
        "POST",
        "/tasks/1122/actions/markComplete",
        **{"actionParams[completionNote]": "Logged by Nooks", "actionParams[completionAction]": ""},
    )
    assert status == 200
    attrs = body["data"]["attributes"]
    assert attrs["state"] == "complete" and attrs["stateChangedAt"] and attrs["updatedAt"] == attrs["stateChangedAt"]
    status, body, _ = await ana.request("POST", "/tasks/1122/actions/markComplete")
    assert status == 422 and body["errors"][0]["id"] == "validationError"
    state = await control.record("sequenceState", 7001)
    assert state["relationships"]["sequenceStep"]["data"]["id"] == 203  # advanced to the next step
    assert (await ana.request("POST", "/tasks/1122/actions/explode"))[0] == 404
    status, body, _ = await ana.request(
        "POST", "/tasks/1125/actions/reschedule", **{"actionParams[dueAt]": "2030-01-01T00:00:00Z"}
    )
    assert status == 200 and body["data"]["attributes"]["dueAt"] == "2030-01-01T00:00:00.000Z"


async def test_bench_seed(control: SandboxControl, running: RunningSandbox, http: aiohttp.ClientSession) -> None:
    await control.seed(reps=3, prospects_per_rep=5)
    tokens = await control.connect("rep2@bench.example")
    api = Api(http, running.api_url, tokens["access_token"])
    phones = await api.get("/phoneNumbers", **{"filter[number]": "+16280020003"})
    assert phones["data"][0]["relationships"]["prospect"]["data"]["id"] == 100_008
    tasks = await api.get("/tasks", **{"filter[owner][id]": "1002"})
    assert len(tasks["data"]) == 5
