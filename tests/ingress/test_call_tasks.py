"""`GET /v1/teams/{team}/reps/{rep}/call-tasks` over HTTP, against the sandbox's seeded demo org.

Ana (user 1) has, due now or earlier: 60 bulk call tasks (2001..2060, due 180..239 minutes ago, 2060 oldest),
1122 and 1123 (call tasks in sequence 41), 1124 (a call to an opted-out prospect), 1126 (email) and 1131
(action item); 1125 is due tomorrow and 1127 is complete. Ben and Cleo own 1128-1130 and 1132.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
import pytest

from store import keys
from tests.support.retention import dump_redis
from tests.support.service import Service

ANA = "/v1/teams/team_acme/reps/ana@acme.com/call-tasks"
BULK = [2001 + i for i in range(60)]
ANA_DUE = [*reversed(BULK), 1122, 1123]  # oldest due first

Answer = tuple[int, Any, dict[str, str]]


async def get(svc: Service, path: str = ANA, *, bearer: bool = True, **params: Any) -> Answer:
    headers = svc.bearer() if bearer else {}
    query = {k: str(v) for k, v in params.items() if v is not None}
    async with svc.http.get(f"{svc.base_url}{path}", params=query, headers=headers) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body, dict(response.headers)


async def walk(svc: Service, path: str = ANA, **params: Any) -> list[dict[str, Any]]:
    """Every page, following next_cursor; each page's body."""
    pages, cursor = [], None
    for _ in range(100):
        status, body, headers = await get(svc, path, cursor=cursor, **params)
        assert status == 200, body
        assert headers["Cache-Control"] == "no-store"
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("paging did not end")


def ids(pages: list[dict[str, Any]]) -> list[int]:
    return [task["task_id"] for page in pages for task in page["tasks"]]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def tasks_requests(svc: Service) -> list[dict[str, Any]]:
    return [r for r in await svc.sandbox.requests(path_prefix="/api/v2/tasks") if r["method"] == "GET"]


async def add_task(svc: Service, action: str, due: datetime, owner: int = 1, prospect: int = 3457,
                   **rels: int | None) -> int:
    account = {3456: 501, 3457: 502}.get(prospect)
    record = await svc.sandbox.create(
        "task",
        {"action": action, "taskType": action, "state": "incomplete", "dueAt": iso(due), "note": None},
        {"prospect": prospect, "account": account, "owner": owner, **rels},
    )
    return int(record["id"])


# --- what is returned ----------------------------------------------------------------------------------------

async def test_due_call_tasks_oldest_first_in_one_outreach_request(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.clear_requests()
    status, body, headers = await get(svc, limit=200)
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert set(body) == {"tasks", "next_cursor", "opted_out_skipped"}
    assert [t["task_id"] for t in body["tasks"]] == ANA_DUE
    assert body["next_cursor"] is None
    assert body["opted_out_skipped"] == 1  # 1124: Fay Chen opted out of calls
    dues = [t["due_at"] for t in body["tasks"]]
    assert dues == sorted(dues) and all(d.endswith("Z") for d in dues)

    [request] = await tasks_requests(svc)
    query = parse_qs(request["query"])
    assert query["filter[owner][id]"] == ["1"] and query["filter[state]"] == ["incomplete"]
    assert query["filter[dueAt]"][0].startswith("neginf..") and query["sort"] == ["dueAt"]
    assert {"prospect", "account", "sequence", "sequenceStep", "taskPurpose"} <= set(query["include"][0].split(","))

    task = next(t for t in body["tasks"] if t["task_id"] == 1122)
    assert task == {
        "task_id": 1122,
        "due_at": task["due_at"],
        "note": "Ask about Q1 budget",
        "prospect": {
            "id": 3456, "name": "Dana Whitfield", "title": "VP Sales", "time_zone": "America/New_York",
            "phones": [{"number": "+14155551234", "type": "mobile"}, {"number": "+14155550199", "type": "work"}],
        },
        "account": {"id": 501, "name": "Globex Corporation"},
        "sequence": {"id": 41, "name": "Q4 Outbound"},
        "step": {"id": 202, "name": "Intro call"},
        "call_purpose": {"id": 1, "name": "Intro"},
    }
    due = datetime.fromisoformat(task["due_at"])
    assert timedelta(minutes=119) < datetime.now(UTC) - due < timedelta(minutes=125)
    bulk = next(t for t in body["tasks"] if t["task_id"] == 2001)
    assert bulk["sequence"] is None and bulk["step"] is None and bulk["call_purpose"] is None
    assert bulk["prospect"]["phones"] == [{"number": "+14155552001", "type": "mobile"}]
    assert bulk["account"] == {"id": 502, "name": "Initech"}


async def test_only_the_reps_own_call_tasks(svc: Service) -> None:
    await svc.connect()
    await svc.connect(rep_email="ben@acme.com")
    _, ana, _ = await get(svc, limit=200)
    returned = {t["task_id"] for t in ana["tasks"]}
    # never: Ben's and Cleo's tasks, email/action items, complete, future, opted out
    assert returned.isdisjoint({1128, 1129, 1130, 1132, 1126, 1131, 1127, 1125, 1124})
    status, ben, _ = await get(svc, "/v1/teams/team_acme/reps/ben@acme.com/call-tasks")
    assert status == 200, ben
    assert [t["task_id"] for t in ben["tasks"]] == [1128]  # 1129 is due in 3 hours, 1132 is an email
    assert ben["tasks"][0]["call_purpose"] == {"id": 2, "name": "Follow-up"}
    assert ben["opted_out_skipped"] == 0


async def test_call_purpose_falls_back_to_the_step_and_phones_to_the_arrays(svc: Service) -> None:
    await svc.connect()
    # A task on step 203 (default purpose 2) with no purpose of its own.
    stepped = await add_task(svc, "call", datetime.now(UTC) - timedelta(days=3), sequence=41, sequenceStep=203)
    # A prospect with phone arrays only (no phoneNumber records), numbers of every type.
    prospect = await svc.sandbox.create("prospect", {
        "firstName": "Zed", "lastName": "Arrays", "title": "Buyer", "timeZone": "Europe/Paris",
        "voipPhones": ["+33100000005"], "otherPhones": ["+33100000004"], "homePhones": ["+33100000003"],
        "workPhones": ["+33100000002", "+33100000001"], "mobilePhones": ["+33100000000"],
    }, {"owner": 1})
    arrays = await add_task(svc, "call", datetime.now(UTC) - timedelta(days=2), prospect=int(prospect["id"]))
    _, body, _ = await get(svc, limit=2)
    first, second = body["tasks"]
    assert first["task_id"] == stepped and second["task_id"] == arrays
    assert first["step"] == {"id": 203, "name": "Follow-up call"}
    assert first["call_purpose"] == {"id": 2, "name": "Follow-up"}
    assert second["prospect"]["name"] == "Zed Arrays" and second["prospect"]["time_zone"] == "Europe/Paris"
    assert second["prospect"]["phones"] == [
        {"number": "+33100000000", "type": "mobile"}, {"number": "+33100000002", "type": "work"},
        {"number": "+33100000001", "type": "work"}, {"number": "+33100000003", "type": "home"},
        {"number": "+33100000004", "type": "other"}, {"number": "+33100000005", "type": "voip"},
    ]
    assert second["account"] is None and second["note"] is None


async def test_phone_records_come_in_dialing_order(svc: Service) -> None:
    await svc.connect()
    # Dana gets a home number listed first by Outreach's own order: types still rank mobile, work, home.
    await svc.sandbox.create("phoneNumber", {"number": "+14155550111", "phoneType": "home", "order": -1},
                             {"prospect": 3456})
    _, body, _ = await get(svc, limit=200)
    dana = next(t for t in body["tasks"] if t["task_id"] == 1122)["prospect"]
    assert dana["phones"] == [{"number": "+14155551234", "type": "mobile"},
                              {"number": "+14155550199", "type": "work"},
                              {"number": "+14155550111", "type": "home"}]


async def test_due_before(svc: Service) -> None:
    await svc.connect()
    now = datetime.now(UTC)
    _, earlier, _ = await get(svc, limit=200, due_before=iso(now - timedelta(minutes=100)))
    assert [t["task_id"] for t in earlier["tasks"]] == [*reversed(BULK), 1122]
    assert earlier["opted_out_skipped"] == 0
    _, later, _ = await get(svc, limit=200, due_before=(now + timedelta(days=2)).isoformat())
    assert [t["task_id"] for t in later["tasks"]] == [*ANA_DUE, 1125]
    # 1125 is no sequence task: its purpose is the task's own `taskPurpose` (Outreach relates no `callPurpose`).
    assert later["tasks"][-1]["call_purpose"] == {"id": 2, "name": "Renewal Check-in"}
    _, none, _ = await get(svc, due_before="2000-01-01")
    assert none == {"tasks": [], "next_cursor": None, "opted_out_skipped": 0}


# --- paging --------------------------------------------------------------------------------------------------

async def test_pages_cover_every_task_once(svc: Service) -> None:
    await svc.connect()
    pages = await walk(svc, limit=25)
    assert [len(p["tasks"]) for p in pages] == [25, 25, 12]
    assert ids(pages) == ANA_DUE
    assert sum(p["opted_out_skipped"] for p in pages) == 1


async def test_a_page_spans_outreach_pages_when_filtering_removes_tasks(svc: Service) -> None:
    await svc.connect()
    old = datetime.now(UTC) - timedelta(days=10)
    emails = [await add_task(svc, "email", old + timedelta(minutes=i)) for i in range(5)]
    assert len(emails) == 5
    await svc.sandbox.clear_requests()
    status, first, _ = await get(svc, limit=3)
    assert status == 200, first
    assert [t["task_id"] for t in first["tasks"]] == [2060, 2059, 2058]
    # Outreach pages of 3: [5 emails...], [2 emails, 2060, ...], [2059, 2058, 2057]: three requests, one answer.
    assert len(await tasks_requests(svc)) == 3
    assert first["next_cursor"]
    # The third Outreach page was only partly used: the next page resumes inside it, no task lost or repeated.
    await svc.sandbox.clear_requests()
    _, second, _ = await get(svc, limit=3, cursor=first["next_cursor"])
    assert [t["task_id"] for t in second["tasks"]] == [2057, 2056, 2055]
    pages = await walk(svc, limit=7)
    assert ids(pages) == ANA_DUE


async def test_at_most_ten_outreach_pages_per_request(svc: Service) -> None:
    await svc.connect()
    old = datetime.now(UTC) - timedelta(days=10)
    for i in range(25):
        await add_task(svc, "action_item", old + timedelta(minutes=i))
    await svc.sandbox.clear_requests()
    status, first, _ = await get(svc, limit=2)
    assert status == 200 and first["tasks"] == [] and first["next_cursor"]
    assert len(await tasks_requests(svc)) == 10
    _, second, _ = await get(svc, limit=2, cursor=first["next_cursor"])
    assert [t["task_id"] for t in second["tasks"]] == [2060, 2059]


async def test_cursor_keeps_the_first_requests_due_before(svc: Service) -> None:
    await svc.connect()
    cutoff = iso(datetime.now(UTC) - timedelta(minutes=100))
    _, first, _ = await get(svc, limit=40, due_before=cutoff)
    # Without due_before the cursor's own applies; the same value is accepted; another one is refused.
    _, rest, _ = await get(svc, limit=40, cursor=first["next_cursor"])
    assert [t["task_id"] for t in first["tasks"] + rest["tasks"]] == [*reversed(BULK), 1122]
    status, _, _ = await get(svc, limit=40, cursor=first["next_cursor"], due_before=cutoff)
    assert status == 200
    status, body, _ = await get(svc, limit=40, cursor=first["next_cursor"], due_before=iso(datetime.now(UTC)))
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


async def test_bad_and_tampered_cursors_are_refused(svc: Service) -> None:
    await svc.connect()
    await svc.connect(rep_email="ben@acme.com")
    _, page, _ = await get(svc, limit=5)
    cursor = page["next_cursor"]
    body_part, _, mac = cursor.partition(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body_part + "=" * (-len(body_part) % 4)))
    forged = dict(payload, o=2)  # point the cursor at Ben's Outreach user
    forged_part = base64.urlsafe_b64encode(orjson.dumps(forged)).decode().rstrip("=")
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for bad in ["garbage", "a.b", "x" * 5000, f"{forged_part}.{mac}", flipped, cursor + "A", "é.é"]:
        status, body, headers = await get(svc, cursor=bad)
        assert status == 400, (bad, body)
        assert body["error"]["code"] == "invalid_cursor" and headers["Cache-Control"] == "no-store"
    # A cursor is bound to its team and rep.
    status, body, _ = await get(svc, "/v1/teams/team_acme/reps/ben@acme.com/call-tasks", cursor=cursor)
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    await svc.connect(team_id="team_other")
    status, body, _ = await get(svc, "/v1/teams/team_other/reps/ana@acme.com/call-tasks", cursor=cursor)
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    status, _, _ = await get(svc, cursor=cursor)
    assert status == 200


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"limit": -1}, {"limit": "1.5"},
    {"limit": "²"}, {"limit": "١٢"}, {"limit": "9" * 5000},  # digits `str.isdigit` accepts and `int` refuses
    {"due_before": "yesterday"}, {"due_before": "2026-13-01T00:00:00Z"}, {"due_before": "9999-12-31T23:00:00-05:00"},
])
async def test_bad_parameters_are_422(svc: Service, params: dict[str, Any]) -> None:
    await svc.connect()
    status, body, headers = await get(svc, **params)
    assert status == 422, body
    assert body["error"]["code"] in {"invalid_limit", "invalid_due_before"}
    assert headers["Cache-Control"] == "no-store"


async def test_limit_bounds_are_accepted(svc: Service) -> None:
    await svc.connect()
    _, one, _ = await get(svc, limit=1)
    assert [t["task_id"] for t in one["tasks"]] == [2060]
    _, default, _ = await get(svc)
    assert len(default["tasks"]) == 50
    _, most, _ = await get(svc, limit=200)
    assert len(most["tasks"]) == len(ANA_DUE)


# --- who may read, and when Outreach cannot answer ----------------------------------------------------------

async def test_bearer_required(svc: Service) -> None:
    await svc.connect()
    status, body, headers = await get(svc, bearer=False)
    assert status == 401 and headers["Cache-Control"] == "no-store"
    assert body["error"]["code"] == "unauthorized"
    async with svc.http.get(f"{svc.base_url}{ANA}", headers={"Authorization": "Bearer wrong"}) as response:
        assert response.status == 401
    status, _, _ = await get(svc, "/v1/teams/team_acme/reps/not-an-email/call-tasks")
    assert status == 422


async def test_not_connected_is_409(svc: Service) -> None:
    status, body, headers = await get(svc)
    assert status == 409 and body["error"]["code"] == "not_connected"
    assert headers["Cache-Control"] == "no-store"


async def test_another_team_cannot_read_the_rep(svc: Service) -> None:
    await svc.connect()  # in team_acme only
    status, body, _ = await get(svc, "/v1/teams/team_other/reps/ana@acme.com/call-tasks")
    assert status == 409 and body["error"]["code"] == "not_connected"
    assert "Dana" not in str(body)


async def test_unmapped_rep_is_409(svc: Service) -> None:
    # Connected without a mapping: a connection made before consents were checked (today's callback always maps).
    await svc.connect()
    await svc.redis.hdel(keys.mapping("team_acme"), "ana@acme.com")
    status, body, _ = await get(svc)
    assert status == 409 and body["error"]["code"] == "not_mapped"


async def test_revoked_access_is_409_needs_reconnect(svc: Service) -> None:
    await svc.connect()
    assert await svc.sandbox.revoke_tokens("ana@acme.com") > 0
    status, body, headers = await get(svc)
    assert status == 409 and body["error"]["code"] == "needs_reconnect"
    assert headers["Cache-Control"] == "no-store"
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "needs_reconnect"
    status, body, _ = await get(svc)
    assert status == 409 and body["error"]["code"] == "needs_reconnect"


async def test_spent_rate_budget_is_429_with_retry_after(svc: Service) -> None:
    # A team of its own, so this process's budget for Ana in team_acme stays untouched for other tests.
    await svc.connect(team_id="team_ratelimited")
    await svc.sandbox.faults(rate_limit=0)
    status, body, headers = await get(svc, "/v1/teams/team_ratelimited/reps/ana@acme.com/call-tasks")
    assert status == 429, body
    assert body["error"]["code"] == "rate_limited"
    assert int(headers["Retry-After"]) >= 1 and headers["Cache-Control"] == "no-store"
    # Further requests are held back here rather than spent on Outreach.
    await svc.sandbox.clear_requests()
    status, _, headers = await get(svc, "/v1/teams/team_ratelimited/reps/ana@acme.com/call-tasks")
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert await tasks_requests(svc) == []


@pytest.mark.parametrize("fault", [500, 503, 400, 404])
async def test_outreach_failures_are_502_without_its_body(svc: Service, fault: int) -> None:
    await svc.connect()
    # A 5xx is tried again quickly (outreach/quick_retry.py): fail every try.
    await svc.sandbox.fail_next("/api/v2/tasks", status=fault, count=4 if fault >= 500 else 1)
    status, body, headers = await get(svc)
    assert status == 502, body
    assert body["error"]["code"] in {"outreach_unavailable", "outreach_rejected"}
    # Outreach's error title and detail never reach the answer (at most its status and error id do).
    assert "Injected" not in str(body) and "Fault" not in body["error"]["message"].replace("sandboxFault", "")
    assert headers["Cache-Control"] == "no-store"
    status, _, _ = await get(svc)
    assert status == 200


async def test_a_failed_page_can_be_asked_again_with_the_same_cursor(svc: Service) -> None:
    await svc.connect()
    _, first, _ = await get(svc, limit=30)
    await svc.sandbox.fail_next("/api/v2/tasks", status=500, count=4)
    status, _, _ = await get(svc, limit=30, cursor=first["next_cursor"])
    assert status == 502
    _, second, _ = await get(svc, limit=30, cursor=first["next_cursor"])
    assert [t["task_id"] for t in first["tasks"] + second["tasks"]] == ANA_DUE[:60]


# --- nothing kept --------------------------------------------------------------------------------------------

SEEDED_VALUES = [
    "Whitfield", "VP Sales", "Novak", "Head of RevOps", "Fay Chen", "Prospect01", "Prospect60",
    "+14155551234", "+14155550199", "+13125550142", "+14155552001", "Globex", "Initech", "Umbrella",
    "Ask about Q1 budget", "Opted out of calls", "Q4 Outbound", "Intro call", "Follow-up call",
]


async def test_nothing_about_the_tasks_is_kept(svc: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await svc.connect()
    pages = await walk(svc, limit=20)
    assert ids(pages) == ANA_DUE
    await get(svc, limit=200, due_before=iso(datetime.now(UTC) + timedelta(days=2)))
    await svc.sandbox.fail_next("/api/v2/tasks", status=500)
    await get(svc)
    await get(svc, cursor="tampered")
    dumped = await dump_redis(svc.redis)
    assert dumped  # the connection itself is there
    for value in SEEDED_VALUES:
        assert value not in dumped, value
        assert value not in caplog.text, value


def _payload(cursor: str) -> dict[str, Any]:
    body_part = cursor.partition(".")[0]
    return orjson.loads(base64.urlsafe_b64decode(body_part + "=" * (-len(body_part) % 4)))  # type: ignore[no-any-return]


def _signed(key: bytes, payload: dict[str, Any]) -> str:
    from ingress import cursor as c
    body = orjson.dumps(payload)
    return f"{c._b64(body)}.{c._b64(c._mac(key, body))}"


async def test_a_cursor_minted_with_the_nooks_api_token_is_refused(svc: Service) -> None:
    """Nooks holds NOOKS_API_TOKEN: a cursor key derived from it would let a bearer holder mint any cursor."""
    from ingress import cursor as c
    await svc.connect()
    _, page, _ = await get(svc, limit=5)
    minted = _signed(c.cursor_key(svc.api_token), _payload(page["next_cursor"]))
    status, body, _ = await get(svc, cursor=minted)
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


@pytest.mark.parametrize("change", [
    {"filter[owner][id]": "2"}, {"filter[state]": "complete"}, {"filter[dueAt]": "neginf..9999-01-01T00:00:00.000Z"},
    {"filter[owner][id]": None},
])
async def test_a_signed_cursor_whose_outreach_url_lost_the_reps_filters_is_refused(
        svc: Service, change: dict[str, str | None]) -> None:
    """Behind the signature, a second wall: the Outreach URL a cursor resumes must still ask for the rep's own
    incomplete tasks due by the cursor's due_before."""
    from ingress import cursor as c
    from outreach.call_tasks import first_page_params
    await svc.connect()
    _, page, _ = await get(svc, limit=5)
    payload = _payload(page["next_cursor"])
    key = c.cursor_key(svc.settings.cursor_signing_secret)
    intact = {k: str(v) for k, v in first_page_params(1, c.parse_time(payload["d"]), 5).items()}  # type: ignore[arg-type]
    query = dict(intact)
    for name, value in change.items():
        query.pop(name) if value is None else query.__setitem__(name, value)
    payload["u"] = f"{svc.settings.outreach_api_url}/tasks?{urlencode(query)}"
    status, body, _ = await get(svc, cursor=_signed(key, payload))
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")
    payload["u"] = f"{svc.settings.outreach_api_url}/tasks?{urlencode(intact)}"
    status, body, _ = await get(svc, cursor=_signed(key, payload))
    assert status == 200, body  # the same cursor with the filters intact is good


# --- the cursor itself (pure) --------------------------------------------------------------------------------

def test_cursor_round_trip_and_binding() -> None:
    from ingress import cursor as c
    from outreach.call_tasks import Position

    key = c.cursor_key("token-a")
    due = datetime(2026, 11, 29, 12, tzinfo=UTC)
    filters = urlencode({"filter[owner][id]": 1, "filter[state]": "incomplete",
                         "filter[dueAt]": "neginf..2026-11-29T12:00:00.000Z"})
    state = c.CursorState(1, due, Position(f"https://api.example/api/v2/tasks?{filters}&page%5Bafter%5D=x", 7,
                                           "2026-11-29T10:00:00Z"))
    token = c.encode(key, "team_acme", "ana@acme.com", state)
    assert "ana@acme.com" not in token and "=" not in token  # url-safe, unpadded
    assert c.decode(key, "team_acme", "ana@acme.com", token) == state
    for team, rep, other_key in [("team_other", "ana@acme.com", key), ("team_acme", "ben@acme.com", key),
                                 ("team_acme", "ana@acme.com", c.cursor_key("token-b"))]:
        with pytest.raises(c.BadCursor):
            c.decode(other_key, team, rep, token)
    first_page = c.CursorState(2, datetime(2026, 11, 29, 12, tzinfo=UTC), Position())
    assert c.decode(key, "t", "r@x", c.encode(key, "t", "r@x", first_page)) == first_page
