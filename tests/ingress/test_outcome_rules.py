"""`GET`/`PUT /v1/teams/{team_id}/call-outcome-rules`: the team's after_call per disposition."""

from __future__ import annotations

from typing import Any

import orjson

from store import keys
from tests.support.service import Service

PATH = "/v1/teams/team_acme/call-outcome-rules"
RULES = {"rules": [
    {"disposition_id": 1,
     "after_call": {"sequence": "finish_replied", "follow_up": {"after": "P2D", "note": "Pricing"}}},
    {"disposition_id": 7, "after_call": {"task": "keep", "add_to_sequence": {"sequence_id": 43}}},
    {"disposition_id": 9, "after_call": {"opt_out_of_calls": True}},
]}


async def test_put_then_get(svc: Service) -> None:
    status, empty = await svc.api("GET", PATH)
    assert status == 200 and empty == {"rules": []}
    status, body = await svc.api("PUT", PATH, json=RULES)
    assert status == 200 and body == RULES  # only what each rule says: no defaults filled in
    status, body = await svc.api("GET", PATH)
    assert status == 200 and body == RULES
    assert (await svc.api("GET", "/v1/teams/team_other/call-outcome-rules"))[1] == {"rules": []}
    # Ids, durations and the team's own notes only: no names read from Outreach.
    stored = orjson.loads(await svc.redis.get(keys.outcome_rules("team_acme")))
    assert stored == RULES
    assert (await svc.api("PUT", PATH, json={"rules": []}))[0] == 200
    assert await svc.redis.exists(keys.outcome_rules("team_acme")) == 0


async def test_bad_rules_name_each_field_and_change_nothing(svc: Service) -> None:
    assert (await svc.api("PUT", PATH, json=RULES))[0] == 200
    bad: list[tuple[Any, set[str]]] = [
        ({"rules": [{"disposition_id": 1, "after_call": {"follow_up": {"due_at": "2026-12-01T15:00:00Z"}}},
                    {"disposition_id": 0, "after_call": {}}]},
         {"rules.0.after_call.follow_up.due_at"}),  # shapes first: disposition 0 is refused with them below
        ({"rules": [{"disposition_id": 0, "after_call": {"sequence": "restart"}}]},
         {"rules.0.disposition_id", "rules.0.after_call.sequence"}),
        ({"rules": [{"disposition_id": 1, "after_call": {"task": "reschedule"}},
                    {"disposition_id": 1, "after_call": {"task": "keep", "sequence": "finish_no_reply"}}]},
         {"rules.0.after_call.task", "rules.1.disposition_id", "rules.1.after_call.sequence"}),
        ({"rules": [{"disposition_id": 3, "after_call": {"follow_up": {"after": "P1M"}}}]},
         {"rules.0.after_call.follow_up.after"}),
        ({"rules": [{"disposition_id": 3}]}, {"rules.0.after_call"}),
        ({"rules": "all"}, {"rules"}),
        ({}, {"rules"}),
    ]
    for body, wanted in bad:
        status, answer = await svc.api("PUT", PATH, json=body)
        assert status == 422, body
        assert answer["error"]["code"] == "invalid_rules"
        assert wanted <= {item["field"] for item in answer["error"]["fields"]}, answer
    status, answer = await svc.api("PUT", PATH, data=b"{", headers={"content-type": "application/json"})
    assert status == 400
    assert (await svc.api("GET", PATH))[1] == RULES  # unchanged


async def test_needs_bearer_and_a_valid_team(svc: Service) -> None:
    async with svc.http.get(f"{svc.base_url}{PATH}") as response:
        assert response.status == 401
    async with svc.http.put(f"{svc.base_url}{PATH}", json=RULES) as response:
        assert response.status == 401
    assert (await svc.api("GET", "/v1/teams/team%20acme/call-outcome-rules"))[0] == 422
