"""The pickers the dialer offers after a call (dispositions, sequences) and `sequence_id=` on the call-task list:
live with the rep's token, `Cache-Control: no-store`, 409 without a usable connection, nothing kept."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson

from tests.ingress.test_call_tasks import add_task, get, walk
from tests.support.retention import dump_redis
from tests.support.service import Service

REP = "/v1/teams/team_acme/reps/ana@acme.com"
DISPOSITIONS = f"{REP}/dispositions"
SEQUENCES = f"{REP}/sequences"
SEQUENCE_NAMES = ["Archived Outbound", "Inbound Follow-up", "Nurture: Post-call", "Q4 Outbound"]


async def test_dispositions_in_outreachs_display_order(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.update("callDisposition", 1, {"order": 8})  # the display order is `order`, not the id
    status, body, headers = await get(svc, DISPOSITIONS)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert [d["id"] for d in body["dispositions"]] == [3, 5, 6, 7, 1, 9]
    assert body["dispositions"][0] == {"id": 3, "name": "Answered - Not Interested", "outcome": "completed",
                                       "order": 3}
    requests = await svc.sandbox.requests(path_prefix="/api/v2/callDispositions")
    assert "sort=order" in requests[-1]["query"]


async def test_sequences_by_name_paged_disabled_included(svc: Service) -> None:
    await svc.connect()
    pages = await walk(svc, SEQUENCES, limit=3)
    assert [len(p["sequences"]) for p in pages] == [3, 1]
    assert [s["name"] for p in pages for s in p["sequences"]] == SEQUENCE_NAMES
    assert pages[0]["sequences"][0] == {"id": 44, "name": "Archived Outbound", "enabled": False}
    status, everything, _ = await get(svc, SEQUENCES)
    assert status == 200 and everything["next_cursor"] is None and len(everything["sequences"]) == 4


async def test_sequence_cursors_are_signed_and_bound(svc: Service) -> None:
    await svc.connect()
    await svc.connect(rep_email="ben@acme.com")
    _, first, _ = await get(svc, SEQUENCES, limit=1)
    cursor = first["next_cursor"]
    body_part, _, mac = cursor.partition(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body_part + "=" * (-len(body_part) % 4)))
    forged = base64.urlsafe_b64encode(orjson.dumps(dict(payload, u="http://evil.example/sequences"))).decode()
    _, tasks_page, _ = await get(svc, f"{REP}/call-tasks", limit=1)
    for bad in ["garbage", f"{forged.rstrip('=')}.{mac}", tasks_page["next_cursor"]]:
        status, body, headers = await get(svc, SEQUENCES, cursor=bad)
        assert status == 400 and body["error"]["code"] == "invalid_cursor", bad
        assert headers["Cache-Control"] == "no-store"
    # A sequences cursor is no call-tasks cursor, and is bound to its rep.
    assert (await get(svc, f"{REP}/call-tasks", cursor=cursor))[0] == 400
    assert (await get(svc, "/v1/teams/team_acme/reps/ben@acme.com/sequences", cursor=cursor))[0] == 400
    assert (await get(svc, SEQUENCES, cursor=cursor, limit=1))[1]["sequences"][0]["name"] == "Inbound Follow-up"


async def test_pickers_need_a_usable_connection_and_the_bearer(svc: Service) -> None:
    for path in (DISPOSITIONS, SEQUENCES):
        status, body, headers = await get(svc, path)
        assert status == 409 and body["error"]["code"] == "not_connected" and headers["Cache-Control"] == "no-store"
        assert (await get(svc, path, bearer=False))[0] == 401
    await svc.connect()
    await svc.sandbox.revoke_tokens("ana@acme.com")
    await svc.sandbox.expire_tokens("ana@acme.com")
    status, body, _ = await get(svc, SEQUENCES)
    assert status == 409 and body["error"]["code"] == "needs_reconnect"
    assert (await get(svc, SEQUENCES, limit=0))[0] == 422


async def test_outreach_failure_is_502_without_its_body(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.fail_next("/api/v2/sequences", status=400)
    status, body, headers = await get(svc, SEQUENCES)
    assert status == 502 and headers["Cache-Control"] == "no-store"
    assert "Injected" not in str(body)


async def test_nothing_read_is_kept(svc: Service) -> None:
    await svc.connect()
    await walk(svc, SEQUENCES, limit=2)
    assert (await get(svc, DISPOSITIONS))[0] == 200
    kept = await dump_redis(svc.redis)
    for name in ("Nurture", "Archived", "Left Voicemail", "Bad Number"):
        assert name not in kept


async def test_call_tasks_of_one_sequence(svc: Service) -> None:
    await svc.connect()
    status, body, _ = await get(svc, f"{REP}/call-tasks", sequence_id=41)
    assert status == 200 and [t["task_id"] for t in body["tasks"]] == [1122, 1123]
    extra = [await add_task(svc, "call", due, prospect=3456, sequence=41) for due in _past(3)]
    pages = await walk(svc, f"{REP}/call-tasks", sequence_id=41, limit=2)
    assert sorted(t["task_id"] for p in pages for t in p["tasks"]) == sorted([1122, 1123, *extra])
    _, first, _ = await get(svc, f"{REP}/call-tasks", sequence_id=41, limit=2)
    status, body, _ = await get(svc, f"{REP}/call-tasks", sequence_id=42, cursor=first["next_cursor"])
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    for bad in ("0", "x", "-1", "9" * 30):
        status, body, _ = await get(svc, f"{REP}/call-tasks", sequence_id=bad)
        assert status == 422 and body["error"]["code"] == "invalid_sequence_id"
    assert (await get(svc, f"{REP}/call-tasks", sequence_id=43))[1]["tasks"] == []


def _past(n: int) -> list[datetime]:
    return [datetime.now(UTC) - timedelta(minutes=10 + i) for i in range(n)]
