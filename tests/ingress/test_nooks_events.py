"""`POST /v1/nooks/events`: every answer of the contract, over real HTTP against a real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson

from store import keys
from tests.support.nooks import call_event, signed
from tests.support.redis_nodes import RedisNode
from tests.support.servers import running_app
from tests.support.service import Service, eventually
from tools.embedded_redis import free_port


async def test_queued_then_duplicate(svc: Service) -> None:
    event = call_event()
    assert await svc.post_event(event) == (202, {"status": "queued", "event_id": event["id"]})
    assert await svc.post_event(event) == (200, {"status": "duplicate", "event_id": event["id"]})


async def test_concurrent_deliveries_of_one_id_get_exactly_one_202(svc: Service) -> None:
    body, headers = signed(call_event())
    results = await asyncio.gather(*(svc.post_raw(body, headers) for _ in range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [202]


async def test_missing_signature_headers(svc: Service) -> None:
    body, headers = signed(call_event())
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in headers.items() if k != name}
        status, answer = await svc.post_raw(body, partial)
        assert status == 401, name
        assert answer["error"]["code"] == "bad_signature"


async def test_wrong_secret_tampered_body_and_garbage_signatures(svc: Service) -> None:
    event = call_event()
    body, headers = signed(event, secret="whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0xMjM0NTY=")
    assert (await svc.post_raw(body, headers))[0] == 401
    body, headers = signed(event)
    assert (await svc.post_raw(body.replace(b"95", b"96"), headers))[0] == 401
    for garbage in ("v1,", "v1", "v1,!!!notbase64", "nonsense", "v2,abc v1,", ""):
        status, answer = await svc.post_raw(body, {**headers, "webhook-signature": garbage})
        assert status == 401, garbage
    assert await svc.redis.zcard(keys.QUEUE) == 0


async def test_space_separated_signature_list_is_accepted(svc: Service) -> None:
    event = call_event()
    body, headers = signed(event)
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    assert (await svc.post_raw(body, headers))[0] == 202


async def test_timestamp_more_than_five_minutes_off(svc: Service) -> None:
    for offset in (timedelta(minutes=-6), timedelta(minutes=6)):
        status, answer = await svc.post_event(call_event(), timestamp=datetime.now(UTC) + offset)
        assert status == 401
        assert "5 minutes" in answer["error"]["message"]
    body, headers = signed(call_event())
    assert (await svc.post_raw(body, {**headers, "webhook-timestamp": "soon"}))[0] == 401


async def test_body_that_is_not_json(svc: Service) -> None:
    status, answer = await svc.post_event(b"{not json")
    assert status == 400 and answer["error"]["code"] == "bad_json"
    status, _ = await svc.post_raw(b"\xff\xfe", {"webhook-id": "x", "webhook-timestamp": "1",
                                                 "webhook-signature": "v1,AAAA"})
    assert status in (400, 401)


async def test_schema_errors_name_each_bad_field(svc: Service) -> None:
    event = call_event(call_id="c" * 64, started_at="not a time")
    del event["data"]["to"]
    status, answer = await svc.post_event(event)
    assert status == 422
    fields = {item["field"] for item in answer["error"]["fields"]}
    assert {"data.call_id", "data.started_at", "data.to"} <= fields
    assert "c" * 64 not in orjson.dumps(answer).decode()  # values are not echoed
    for shape in ([1, 2], "text", {"id": "x"}, {"id": "x", "type": "call.completed", "data": "nope"}):
        assert (await svc.post_event(orjson.dumps(shape), msg_id="shape"))[0] == 422
        await svc.redis.delete(keys.seen_event("shape"))


async def test_after_call_errors_name_the_field_under_data_after_call(svc: Service) -> None:
    cases = [
        ({"task": "reschedule", "task_due_at": "2026-12-01T15:00:00Z"}, {"task_id": None}, "data.after_call.task"),
        ({"sequence": "finish_no_reply", "task": "keep"}, {}, "data.after_call.sequence"),
        ({"follow_up": {"due_at": "2026-12-01T15:00:00"}}, {}, "data.after_call.follow_up.due_at"),
        ({"follow_up": {}}, {}, "data.after_call.follow_up"),
        ({"sequence": "skip"}, {}, "data.after_call.sequence"),
        ({"add_to_sequence": {"sequence_id": "forty"}}, {}, "data.after_call.add_to_sequence.sequence_id"),
    ]
    for after_call, data, field in cases:
        status, answer = await svc.post_event(call_event(after_call=after_call, **data))
        assert status == 422, after_call
        assert field in {item["field"] for item in answer["error"]["fields"]}, answer
    assert await svc.calls() == []
    assert (await svc.post_event(call_event(after_call={"opt_out_of_calls": True})))[0] == 202


async def test_body_over_256_kib(svc: Service) -> None:
    event = call_event(notes="x" * (300 * 1024))
    status, answer = await svc.post_event(event)
    assert status == 413 and answer["error"]["code"] == "body_too_large"
    # Also when the sender lies about (or omits) the length: the stream is cut at the limit.
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(300):
            yield b"x" * 1024
    body, headers = signed(b"{}")
    async with svc.http.post(f"{svc.base_url}/v1/nooks/events", data=chunks(), headers=headers) as response:
        assert response.status == 413


async def test_other_event_types_are_accepted_and_recorded_as_ignored(svc: Service) -> None:
    event = {"id": "evt_started", "type": "call.started", "data": {"call_id": "x"}}
    assert await svc.post_event(event) == (202, {"status": "ignored", "event_id": "evt_started"})
    assert await svc.post_event(event) == (200, {"status": "duplicate", "event_id": "evt_started"})
    assert await svc.redis.zcard(keys.QUEUE) == 0
    assert (await svc.figures(events_ignored=1))["events_ignored"] == 1


async def test_queue_unavailable_answers_503_and_keeps_nothing(svc: Service) -> None:
    async with running_app(svc.settings, redis_url=f"redis://127.0.0.1:{free_port()}/0") as base:
        body, headers = signed(call_event())
        async with aiohttp.ClientSession() as http, \
                http.post(f"{base}/v1/nooks/events", data=body, headers=headers) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "queue_unavailable"
    # The sender retries; the same webhook-id is then accepted by a healthy instance.
    assert (await svc.post_raw(body, headers))[0] == 202


async def test_wrong_method_and_unknown_path(svc: Service) -> None:
    async with svc.http.get(f"{svc.base_url}/v1/nooks/events") as response:
        assert response.status == 405
    async with svc.http.post(f"{svc.base_url}/v1/nope") as response:
        assert response.status == 404


async def test_with_wait_replicas_an_event_no_replica_confirmed_is_a_503(svc: Service) -> None:
    """REDIS_WAIT_REPLICAS=1 on a Redis without replicas: stored on the master but unconfirmed, so not acknowledged;
    the sender's retry then finds it kept (200) rather than losing it."""
    body, headers = signed(call_event())
    async with running_app(svc.settings, redis_wait_replicas=1, redis_wait_timeout_ms=50) as base, \
            aiohttp.ClientSession() as http, \
            http.post(f"{base}/v1/nooks/events", data=body, headers=headers) as response:
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "queue_unavailable"
    assert (await svc.post_raw(body, headers))[0] == 200


async def test_with_wait_replicas_an_event_a_replica_holds_is_a_202(svc: Service, tmp_path: Path) -> None:
    master, replica = RedisNode(tmp_path / "master"), RedisNode(tmp_path / "replica")
    try:
        master.start()
        replica.start("--replicaof", "127.0.0.1", str(master.port))
        await eventually(lambda: asyncio.to_thread(replica.in_sync_with, master))
        body, headers = signed(call_event())
        async with running_app(svc.settings, redis_url=master.url, redis_wait_replicas=1) as base, \
                aiohttp.ClientSession() as http, \
                http.post(f"{base}/v1/nooks/events", data=body, headers=headers) as response:
            assert response.status == 202
        with replica.client() as on_replica:
            assert on_replica.zcard(keys.QUEUE) == 1
    finally:
        master.kill()
        replica.kill()


async def test_a_webhook_id_outside_the_safe_alphabet_is_refused_and_nothing_is_queued(svc: Service) -> None:
    """CONTRACT: 1-255 letters, digits and `_ . : -`, not `.` or `..`; any other id gets 400. A `/` or a
    dot-segment would make the event's /ops URLs point elsewhere."""
    for bad in ("evt/1", "../evt_1", "..", ".", "evt 1", "evt%2F1", "évt_1", "e" * 256, "evt?x", "evt#1"):
        status, answer = await svc.post_event(call_event(), msg_id=bad)
        assert (status, answer["error"]["code"]) == (400, "bad_event_id"), bad
    assert await svc.redis.zcard(keys.QUEUE) == 0
    for good in ("msg_2KWPBgLlAfxdpx2AI54pPJ85f1W", "evt.1:a-b_c", "e" * 255, "..."):
        assert (await svc.post_event(call_event(), msg_id=good))[0] == 202, good
