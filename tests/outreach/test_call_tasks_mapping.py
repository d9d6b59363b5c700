"""Pure tests of the call-tasks read: Outreach resources → the dialer's shapes, paging positions, page walking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from outreach import call_tasks as ct
from outreach.call_tasks import Position
from outreach.client import RepSession
from outreach.errors import OutreachUnavailable
from sandbox import conformance
from schemas.call_tasks import Named, Phone, Prospect
from schemas.outreach import Resource


def res(type_: str, id_: int, attributes: dict[str, Any] | None = None, **rels: Any) -> Resource:
    relationships: dict[str, Any] = {}
    for name, value in rels.items():
        if isinstance(value, list):
            relationships[name] = {"data": [{"type": name.rstrip("s"), "id": i} for i in value]}
        else:
            relationships[name] = {"data": None if value is None else {"type": name, "id": value}}
    return Resource.model_validate({"type": type_, "id": id_, "attributes": attributes or {},
                                    "relationships": relationships})


def task(id_: int, due: str = "2026-11-29T12:00:00.000Z", action: str | None = "call",
         task_type: str | None = "call", **rels: Any) -> Resource:
    return res("task", id_, {"action": action, "taskType": task_type, "dueAt": due, "note": None}, **rels)


# --- which tasks -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "task_type", "expected"), [
    ("call", "call", True),
    ("call", "sequence_step_call", True),
    (None, "sequence_step_call", True),
    ("email", "sequence_step_email", False),
    ("action_item", "action_item", False),
    ("in_person", None, False),
    (None, None, False),
    (None, "call_something_else", False),
])
def test_is_call_task(action: str | None, task_type: str | None, expected: bool) -> None:
    assert ct.is_call_task(task(1, action=action, task_type=task_type)) is expected


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"callOptedOut": True}, True),
    ({"callOptedOut": True, "callsOptStatus": "opted_in"}, True),
    ({"callOptedOut": False, "callsOptStatus": "opted_out"}, True),
    ({"callsOptStatus": "Opted_Out "}, True),
    ({"callsOptStatus": "opted out"}, True),
    ({"callOptedOut": False, "callsOptStatus": "opted_in"}, False),
    ({"callOptedOut": None, "callsOptStatus": None}, False),
    ({"callOptedOut": "true"}, False),  # only a real boolean counts; Outreach sends booleans
    ({}, False),
])
def test_opted_out(attributes: dict[str, Any], expected: bool) -> None:
    assert ct.opted_out(res("prospect", 1, attributes)) is expected


# --- mapping ---------------------------------------------------------------------------------------------------

def full_included() -> ct.Included:
    return ct.index_included([
        res("prospect", 3456, {"firstName": "Dana", "lastName": "Whitfield", "title": "VP Sales",
                               "timeZone": "America/New_York", "mobilePhones": ["+10000000000"]},
            account=501, phoneNumbers=[9001, 9002]),
        res("phoneNumber", 9001, {"number": "+14155550199", "phoneType": "work", "order": 0}, prospect=3456),
        res("phoneNumber", 9002, {"number": "+14155551234", "phoneType": "mobile", "order": 1}, prospect=3456),
        res("account", 501, {"name": "Globex Corporation"}),
        res("sequence", 41, {"name": "Q4 Outbound"}),
        res("sequenceStep", 202, {"displayName": "Intro call"}, callPurpose=2),
        res("callPurpose", 1, {"name": "Intro"}),
        res("callPurpose", 2, {"name": "Follow-up"}),
        res("taskPurpose", 7, {"name": "Initial Contact"}),
    ])


def test_map_task_with_everything_included() -> None:
    source = res("task", 1122, {"action": "call", "dueAt": "2026-11-29T12:00:00.000Z", "note": " Ask about Q1 "},
                 prospect=3456, account=501, sequence=41, sequenceStep=202, taskPurpose=7)
    mapped = ct.map_task(source, full_included())
    assert mapped.model_dump() == {
        "task_id": 1122,
        "due_at": "2026-11-29T12:00:00Z",
        "note": "Ask about Q1",
        "prospect": {"id": 3456, "name": "Dana Whitfield", "title": "VP Sales", "time_zone": "America/New_York",
                     "phones": [{"number": "+14155551234", "type": "mobile"},
                                {"number": "+14155550199", "type": "work"}]},
        "account": {"id": 501, "name": "Globex Corporation"},
        "sequence": {"id": 41, "name": "Q4 Outbound"},
        "step": {"id": 202, "name": "Intro call"},
        "call_purpose": {"id": 7, "name": "Initial Contact"},  # the task's own purpose wins over the step's
    }


def test_call_purpose_falls_back_to_the_steps() -> None:
    source = task(1, prospect=3456, sequenceStep=202, taskPurpose=None)
    assert ct.map_task(source, full_included()).call_purpose == Named(id=2, name="Follow-up")
    no_relationship = task(2, prospect=3456, sequenceStep=202)
    assert ct.map_task(no_relationship, full_included()).call_purpose == Named(id=2, name="Follow-up")


def test_account_falls_back_to_the_prospects() -> None:
    assert ct.map_task(task(1, prospect=3456), full_included()).account == Named(id=501, name="Globex Corporation")


def test_missing_related_records_keep_their_ids() -> None:
    source = task(1, prospect=77, account=88, sequence=99, sequenceStep=111, taskPurpose=5)
    mapped = ct.map_task(source, {})
    assert mapped.prospect == Prospect(id=77)
    assert mapped.account == Named(id=88) and mapped.sequence == Named(id=99)
    assert mapped.step == Named(id=111) and mapped.call_purpose == Named(id=5)
    bare = ct.map_task(task(2), {})
    assert bare.prospect is None and bare.account is None and bare.step is None and bare.call_purpose is None


def test_prospect_name_title_and_time_zone() -> None:
    full = res("prospect", 1, {"name": "Dana W.", "firstName": "Dana", "lastName": "Whitfield",
                               "timeZone": "EST", "timeZoneIana": "America/New_York", "title": "  "})
    assert ct.map_prospect(full, {}) == Prospect(id=1, name="Dana W.", title=None, time_zone="America/New_York")
    first_only = res("prospect", 2, {"firstName": "Dana", "lastName": None, "timeZone": "Europe/Paris"})
    assert ct.map_prospect(first_only, {}) == Prospect(id=2, name="Dana", time_zone="Europe/Paris")
    assert ct.map_prospect(res("prospect", 3, {"firstName": 7}), {}) == Prospect(id=3)


def test_step_name_is_its_display_name() -> None:
    # A sequence step has `displayName` and no `name` in Outreach's OpenAPI.
    included = ct.index_included([res("sequenceStep", 1, {"displayName": "Call"}), res("sequenceStep", 2, {})])
    steps = [ct.map_task(task(i, sequenceStep=i), included).step for i in (1, 2)]
    assert steps == [Named(id=1, name="Call"), Named(id=2, name=None)]
    assert ct.named(included, "sequenceStep", None, "displayName") is None


# --- phones ----------------------------------------------------------------------------------------------------

def test_phone_records_in_dialing_order() -> None:
    prospect = res("prospect", 1, {"mobilePhones": ["+19999999999"]}, phoneNumbers=[1, 2, 3, 4, 5, 6, 7, 8])
    included = ct.index_included([
        prospect,
        res("phoneNumber", 1, {"number": "+15", "phoneType": "voip", "order": 0}),
        res("phoneNumber", 2, {"number": "+14", "phoneType": "other", "order": 1}),
        res("phoneNumber", 3, {"number": "+13", "phoneType": "Home", "order": 2}),
        res("phoneNumber", 4, {"number": "+12b", "phoneType": "work", "order": 4}),
        res("phoneNumber", 5, {"number": "+12a", "phoneType": "work", "order": 3}),
        res("phoneNumber", 6, {"number": "+11", "phoneType": "mobile", "order": 5}),
        res("phoneNumber", 7, {"number": None, "rawNumber": "(415) 555", "phoneType": "fax", "order": 6}),
        res("phoneNumber", 8, {"number": "+11", "phoneType": "work", "order": 7}),  # a repeat: dropped
    ])
    assert ct.prospect_phones(prospect, included) == [
        Phone(number="+11", type="mobile"), Phone(number="+12a", type="work"), Phone(number="+12b", type="work"),
        Phone(number="+13", type="home"), Phone(number="+14", type="other"), Phone(number="+15", type="voip"),
        Phone(number="(415) 555", type="fax"),
    ]


def test_phone_records_linked_only_from_the_phone_side() -> None:
    prospect = res("prospect", 1, {"workPhones": ["+1999"]})
    included = ct.index_included([
        res("phoneNumber", 1, {"number": "+1222", "phoneType": "work"}, prospect=1),
        res("phoneNumber", 2, {"number": "+1333", "phoneType": None}, prospect=1),
        res("phoneNumber", 3, {"number": "+1444", "phoneType": "mobile"}, prospect=2),  # someone else's
        res("phoneNumber", 4, {"number": "", "phoneType": "mobile"}, prospect=1),  # no number: skipped
    ])
    assert ct.prospect_phones(prospect, included) == [Phone(number="+1222", type="work"),
                                                      Phone(number="+1333", type="other")]


def test_phone_arrays_when_no_records_are_included() -> None:
    prospect = res("prospect", 1, {
        "homePhones": ["+3"], "voipPhones": ["+5"], "otherPhones": ["+4", None, 7], "workPhones": ["+2", "+2b"],
        "mobilePhones": ["+1", "+3"],
    }, phoneNumbers=[41, 42])  # linked, but not included: fall back to the arrays
    assert [(p.type, p.number) for p in ct.prospect_phones(prospect, {})] == [
        ("mobile", "+1"), ("mobile", "+3"), ("work", "+2"), ("work", "+2b"), ("other", "+4"), ("voip", "+5"),
    ]
    assert ct.prospect_phones(res("prospect", 2, {"mobilePhones": None}), {}) == []


# --- positions ---------------------------------------------------------------------------------------

def test_first_page_params() -> None:
    params = ct.first_page_params(42, datetime(2026, 11, 29, 12, tzinfo=UTC), 5000)
    assert params["filter[owner][id]"] == 42 and params["filter[state]"] == "incomplete"
    assert params["filter[dueAt]"] == "neginf..2026-11-29T12:00:00.000Z"
    assert params["sort"] == "dueAt" and params["page[size]"] == 1000 and params["count"] == "false"
    include = str(params["include"]).split(",")
    assert {"prospect", "account", "sequence", "sequenceStep", "taskPurpose", "sequenceStep.callPurpose",
            "prospect.phoneNumbers"} <= set(include)
    assert "action" in str(params["fields[task]"]).split(",")


def test_first_page_params_keep_to_outreachs_contract() -> None:
    """Every filter, include, sort and sparse fieldset is one Outreach's OpenAPI allows on GET /tasks."""
    params = ct.first_page_params(42, datetime(2026, 11, 29, 12, tzinfo=UTC), 50)
    assert conformance.request_problems("GET", "/tasks", [(k, str(v)) for k, v in params.items()], None) == []


def test_resume_index() -> None:
    page = [task(10, "2026-11-29T10:00:00Z"), task(11, "2026-11-29T11:00:00Z"), task(12, "2026-11-29T11:00:00Z"),
            task(13, "2026-11-29T12:00:00Z")]
    assert ct.resume_index(page, Position("u", 11, "2026-11-29T11:00:00Z")) == 2
    assert ct.resume_index(page, Position("u", 13, "2026-11-29T12:00:00Z")) == 4
    # The last task returned is gone (completed meanwhile): resume after everything sorting at or before it.
    assert ct.resume_index(page, Position("u", 9, "2026-11-29T11:00:00Z")) == 1
    assert ct.resume_index(page, Position("u", 12, "2026-11-29T11:30:00Z")) == 3
    assert ct.resume_index(page, Position("u", 99, "2026-11-29T13:00:00Z")) == 4
    assert ct.resume_index(page, Position("u", 99, None)) == 0


# --- walking Outreach pages ------------------------------------------------------------------------------------

class FakeRep:
    """Serves a list of task pages; page k's `links.next` is `https://o.example/api/v2/p/{k+1}`."""

    def __init__(self, pages: list[list[Resource]], included: list[Resource] | None = None) -> None:
        self.pages = pages
        self.included = included or []
        self.asked: list[str] = []

    def _page(self, index: int) -> dict[str, Any]:
        links = {"next": f"https://o.example/api/v2/p/{index + 1}"} if index + 1 < len(self.pages) else {}
        return {"data": [r.model_dump() for r in self.pages[index]],
                "included": [r.model_dump() for r in self.included], "links": links}

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.asked.append("first")
        return self._page(0)

    async def get_url(self, url: str) -> dict[str, Any]:
        self.asked.append(url)
        return self._page(int(url.rsplit("/", 1)[1]))


def calls(*ids: int, prospect: int | None = None) -> list[Resource]:
    return [task(i, f"2026-11-29T{i % 24:02d}:00:00Z", prospect=prospect) for i in ids]


async def read(rep: FakeRep, limit: int, start: Position | None = None) -> ct.CallTaskBatch:
    return await ct.due_call_tasks(cast(RepSession, rep), 1, datetime(2026, 11, 29, tzinfo=UTC), limit, start)


async def test_stops_inside_a_page_and_resumes_after_the_last_task() -> None:
    rep = FakeRep([calls(1, 2, 3), calls(4, 5, 6)])
    first = await read(rep, 2)
    assert [t.task_id for t in first.tasks] == [1, 2]
    assert first.next == Position(None, 2, "2026-11-29T02:00:00Z")
    second = await read(rep, 2, first.next)
    assert [t.task_id for t in second.tasks] == [3, 4]
    assert second.next == Position("https://o.example/api/v2/p/1", 4, "2026-11-29T04:00:00Z")
    third = await read(rep, 5, second.next)
    assert [t.task_id for t in third.tasks] == [5, 6] and third.next is None


async def test_a_page_ending_exactly_at_the_limit_points_at_the_next_page() -> None:
    rep = FakeRep([calls(1, 2), calls(3)])
    batch = await read(rep, 2)
    assert [t.task_id for t in batch.tasks] == [1, 2] and batch.next == Position("https://o.example/api/v2/p/1")
    last = FakeRep([calls(1, 2)])
    assert (await read(last, 2)).next is None


async def test_filtering_reads_on_and_counts_opted_out_prospects() -> None:
    emails = [task(i, action="email", task_type="email") for i in (1, 2)]
    opted = res("prospect", 50, {"callOptedOut": True})
    rep = FakeRep([emails, [*calls(3, prospect=50), *calls(4)], calls(5, 6)], included=[opted])
    batch = await read(rep, 2)
    assert [t.task_id for t in batch.tasks] == [4, 5]
    assert batch.opted_out_skipped == 1
    assert rep.asked == ["first", "https://o.example/api/v2/p/1", "https://o.example/api/v2/p/2"]


async def test_at_most_ten_outreach_pages_per_read() -> None:
    pages = [[task(i, action="email", task_type="email")] for i in range(12)] + [calls(100)]
    rep = FakeRep(pages)
    batch = await read(rep, 5)
    assert batch.tasks == [] and len(rep.asked) == ct.MAX_OUTREACH_PAGES
    assert batch.next == Position("https://o.example/api/v2/p/10")
    rest = await read(rep, 5, batch.next)
    assert [t.task_id for t in rest.tasks] == [100] and rest.next is None


async def test_an_unreadable_document_is_outreach_unavailable_without_its_content() -> None:
    class Broken(FakeRep):
        async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"data": [{"type": "task", "id": "Dana Whitfield"}]}

    with pytest.raises(OutreachUnavailable) as raised:
        await read(Broken([]), 5)
    assert "Dana" not in str(raised.value) and raised.value.__cause__ is None
