"""`POST /v1/outreach/webhooks` against hostile deliveries: only a verified delivery is queued, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from store import jobs, keys
from tests.support.notify import NotifyReceiver
from tests.support.outreach_hooks import (
    connect_with_webhooks,
    deliver,
    delivered_at,
    fixture,
    fresh,
    settle,
    sign,
    worker_idle,
)
from tests.support.servers import running_app
from tests.support.service import Service, eventually
from tools.embedded_redis import free_port

TASK_DELIVERY = {"data": {"type": "task", "id": 1122, "attributes": {"state": "complete",
                                                                     "updatedAt": "2026-11-29T13:01:00.000Z"},
                          "relationships": {"prospect": {"type": "prospect", "id": 3456}}},
                 "meta": {"eventName": "task.updated", "deliveredAt": delivered_at(-1)}}  # an offset, not Z


async def _queued(svc: Service) -> int:
    """Outreach-change jobs in the queue (other jobs, e.g. a deferred subscription sync, do not count)."""
    queued = await svc.redis.zrange(keys.QUEUE, 0, -1)
    return sum(1 for job_id in queued if job_id.decode().startswith(jobs.WEBHOOK_CHANGE_PREFIX))


async def _seen_keys(svc: Service) -> list[bytes]:
    return [k async for k in svc.redis.scan_iter(match=keys.PREFIX + "ohseen:*")]


async def test_a_signed_delivery_is_queued_and_notified(svc: Service, notify: NotifyReceiver) -> None:
    subs = await connect_with_webhooks(svc)
    status, body = await deliver(svc, TASK_DELIVERY, subs["task"], event_id="11111111-aaaa")
    assert (status, body) == (202, {"status": "queued", "event_id": "11111111-aaaa"})
    await eventually(lambda: asyncio.sleep(0, notify.about("task", 1122)))
    payload = notify.received[0].verified()
    assert payload["type"] == "outreach.task.updated"
    assert payload["data"]["changed"] == ["state"] and payload["data"]["related"] == {"prospect": 3456}


async def test_bad_or_missing_signature_is_401_and_nothing_is_queued(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    await worker_idle(svc)
    task = subs["task"]
    raw = orjson.dumps(TASK_DELIVERY)
    other = subs["prospect"]
    for signature in ("", "0" * 64, sign("wrong-secret", raw), sign(task.secret, raw + b" "),
                      sign(other.secret, raw), sign(task.secret, raw)[:63], "zz" * 32, sign(task.secret, raw) + "00"):
        status, body = await deliver(svc, raw, task, signature=signature)
        assert status == 401, (signature, body)
    status, _ = await deliver(svc, raw, task, event_id=None, signature="")  # no headers beyond the id
    assert status == 401
    assert await _queued(svc) == 0 and await _seen_keys(svc) == []
    # Non-ASCII signatures 64 characters long once the server reads the header bytes as latin-1 (aiohttp sends
    # UTF-8: 2 bytes each) are refused, never a 500 from comparing non-ASCII text.
    for odd in ("é" * 32, "²" * 32, "ÿ" * 16 + "0" * 32):
        status, body = await deliver(svc, raw, task, signature=odd)
        assert status == 401, (odd, body)
    # Upper-case hex is still the same digest.
    status, _ = await deliver(svc, raw, task, signature=sign(task.secret, raw).upper())
    assert status == 202


async def test_unknown_or_missing_webhook_id_is_401(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    await worker_idle(svc)
    raw = orjson.dumps(TASK_DELIVERY)
    secret = subs["task"].secret
    for webhook_id in ("999999", "", "a b", "x" * 200):
        status, _ = await deliver(svc, raw, webhook_id=webhook_id or None, secret=secret)
        assert status == 401, webhook_id
    status, _ = await deliver(svc, raw, webhook_id="", secret=secret)
    assert status == 401
    assert await _queued(svc) == 0 and await _seen_keys(svc) == []


async def test_unknown_subscription_and_bad_signature_get_one_answer_and_no_lookup(svc: Service) -> None:
    """Which of the two it was would tell a prober which subscription ids exist; and a signature that cannot
    match costs no lookup and no decryption (answered 401 even with Redis gone)."""
    subs = await connect_with_webhooks(svc)
    await worker_idle(svc)
    raw, task = orjson.dumps(TASK_DELIVERY), subs["task"]
    answers = [await deliver(svc, raw, task, signature="0" * 64),  # a known subscription, a wrong signature
               await deliver(svc, raw, task, signature="not hex"),
               await deliver(svc, raw, webhook_id="999999", secret=task.secret),  # no such subscription
               await deliver(svc, raw, webhook_id=None, secret=task.secret)]
    assert [status for status, _ in answers] == [401] * 4
    assert all(body == answers[0][1] for _, body in answers), answers
    async with running_app(svc.settings, redis_url=f"redis://127.0.0.1:{free_port()}/0") as base:
        status, body = await deliver(svc, raw, task, signature="zz" * 32, base_url=base)
        assert (status, body) == answers[0]


async def test_replayed_event_id_is_processed_once(svc: Service, notify: NotifyReceiver) -> None:
    subs = await connect_with_webhooks(svc)
    event_id = str(uuid.uuid4())
    answers = await asyncio.gather(*(deliver(svc, TASK_DELIVERY, subs["task"], event_id=event_id)
                                     for _ in range(8)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 7 + [202]
    assert [b["status"] for s, b in answers if s == 200] == ["duplicate"] * 7
    await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1
    # Later, the same event id again: still a duplicate.
    assert (await deliver(svc, TASK_DELIVERY, subs["task"], event_id=event_id))[0] == 200
    await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1


async def test_missing_event_id_dedupes_on_the_body_hmac(svc: Service, notify: NotifyReceiver) -> None:
    subs = await connect_with_webhooks(svc)
    raw = orjson.dumps(TASK_DELIVERY)
    first = await deliver(svc, raw, subs["task"], event_id=None)
    second = await deliver(svc, raw, subs["task"], event_id=None)
    assert first[0] == 202 and second == (200, {"status": "duplicate", "event_id": first[1]["event_id"]})
    assert first[1]["event_id"] == "sig-" + sign(subs["task"].secret, raw)
    await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1


async def test_the_same_change_delivered_twice_with_new_event_ids_is_notified_once(
        svc: Service, notify: NotifyReceiver) -> None:
    subs = await connect_with_webhooks(svc)
    for seconds_ago in range(3):  # Outreach re-delivering the change: a new body (deliveredAt) each time
        again = {**TASK_DELIVERY, "meta": {**TASK_DELIVERY["meta"], "deliveredAt": delivered_at(seconds_ago)}}
        assert (await deliver(svc, again, subs["task"]))[0] == 202
    await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1


async def test_a_captured_body_with_a_fresh_event_id_is_a_duplicate(svc: Service, notify: NotifyReceiver) -> None:
    """The event id header is not signed: a replayed body with a new one is still the same delivery."""
    subs = await connect_with_webhooks(svc)
    raw = orjson.dumps(TASK_DELIVERY)
    assert (await deliver(svc, raw, subs["task"], event_id="first-delivery"))[0] == 202
    for replay in ("a-fresh-id", None, "first-delivery"):
        status, body = await deliver(svc, raw, subs["task"], event_id=replay)
        assert (status, body["status"]) == (200, "duplicate"), replay
    await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1


async def test_one_body_delivered_to_two_subscriptions_is_two_deliveries_notified_once(
        svc: Service, notify: NotifyReceiver) -> None:
    """Outreach sends one change to every matching subscription with the same body (docs/outreach-webhooks.md):
    the body dedupe is per subscription, so neither delivery is refused; the change claim notifies once."""
    subs = await connect_with_webhooks(svc)
    raw = orjson.dumps(TASK_DELIVERY)
    assert (await deliver(svc, raw, subs["task"]))[0] == 202
    assert (await deliver(svc, raw, subs["prospect"]))[0] == 202
    await worker_idle(svc)
    assert len(notify.about("task", 1122)) == 1


@pytest.mark.parametrize("when", [3601, -400, "yesterday", "2026-02-30T00:00:00Z", "9999-12-31T23:59:59-23:59"],
                         ids=["over-an-hour-old", "too-far-ahead", "words", "no-such-day", "year-9999"])
async def test_a_stale_or_unreadable_delivered_at_is_refused(svc: Service, when: str | int) -> None:
    subs = await connect_with_webhooks(svc)
    await worker_idle(svc)
    delivered = delivered_at(when) if isinstance(when, int) else when  # seconds ago, taken now
    stale = {**TASK_DELIVERY, "meta": {**TASK_DELIVERY["meta"], "deliveredAt": delivered}}
    status, body = await deliver(svc, stale, subs["task"])
    assert (status, body["error"]["code"]) == (400, "stale_delivery"), when
    assert await _queued(svc) == 0
    assert (await svc.figures(outreach_webhooks_stale=1))["outreach_webhooks_stale"] == 1


async def test_malformed_json_after_a_valid_signature_is_400(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    await worker_idle(svc)
    for raw in (b"{not json", b"", b"\xff\xfe", b'{"data": '):
        status, body = await deliver(svc, raw, subs["task"])
        assert status == 400, raw
        assert body["error"]["code"] == "bad_json" and "JSON" in body["error"]["message"]
    assert await _queued(svc) == 0


async def test_a_1_mb_body_is_413(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    await worker_idle(svc)
    raw = b'{"data": {"type": "task", "id": 1, "attributes": {"note": "' + b"z" * (1024 * 1024) + b'"}}}'
    status, body = await deliver(svc, raw, subs["task"])
    assert status == 413 and body["error"]["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while streaming
        for _ in range(1024):
            yield b"z" * 1024

    headers = {"Outreach-Webhook-Id": subs["task"].webhook_id, "Outreach-Webhook-Signature": "0" * 64}
    async with svc.http.post(f"{svc.base_url}/v1/outreach/webhooks", data=chunks(), headers=headers) as response:
        assert response.status == 413
    assert await _queued(svc) == 0


ODD_SHAPES: list[Any] = [
    {}, [], "text", 42, None, {"data": None}, {"data": []}, {"meta": {"eventName": "task.updated"}},
    {"data": {"type": "task", "id": 77}},                                          # bare, no meta
    {"data": {"type": "task", "id": 77}, "meta": {"eventName": "task.completed"}},  # bare
    {"data": {"type": "sequenceState", "id": 5}, "meta": {"eventName": "sequenceState.advanced"}},
    {"data": {"type": "prospect", "id": 3456, "attributes": {}}, "meta": {"eventName": "prospect.updated"}},
    {"data": {"type": "task", "id": None, "attributes": {"state": "x"}}, "meta": {"eventName": "task.updated"}},
    {"data": {"type": "task", "id": "1122", "relationships": {"owner": {"id": None}, "prospect": {"id": 3456},
                                                             "x": [1, 2], "y": "z"}},
     "meta": {"eventName": "task.updated"}},
    {"data": {"type": "mailing", "id": 9, "attributes": {"subject": "hi"}}, "meta": {"eventName": "mailing.opened"}},
    {"data": {"type": "task", "id": 3, "attributes": "oops", "relationships": 5}, "meta": "nope"},
    {"data": {"type": "prospect", "id": 3456, "attributes": {"title": "A", "updatedAt": "garbage"}},
     "meta": {"eventName": "prospect.updated", "beforeUpdate": {"title": "B"}}},
    {"data": {"type": "prospect", "id": 3456, "attributes": {"title": "A"}, "beforeUpdate": ["x"]},
     "meta": {"eventName": "prospect.updated", "payloadVersion": 2}},
    {"data": {"type": "user", "id": "not-a-number"}, "meta": {"eventName": "user.updated"}},
    {"data": {"type": "user", "id": 999}, "meta": {"eventName": "user.updated"}},      # a user Outreach lacks
    {"data": {"type": "call", "id": 1, "attributes": {"x" * 300: 1, "ok": 2}}, "meta": {"eventName": "call.created"}},
]


@pytest.mark.parametrize("shape", range(len(ODD_SHAPES)))
async def test_odd_shapes_are_accepted_never_500(svc: Service, notify: NotifyReceiver, shape: int) -> None:
    subs = await connect_with_webhooks(svc)
    status, body = await deliver(svc, ODD_SHAPES[shape], subs["task"])
    assert status in (200, 202), body
    assert body["status"] in ("queued", "ignored")
    await worker_idle(svc)
    results = [k async for k in svc.redis.scan_iter(match=keys.ARQ_RESULT + jobs.WEBHOOK_CHANGE_PREFIX + "*")]
    # A queued change ran to an end (its result is stored; a job retrying forever has none); an ignored one
    # queued nothing.
    assert len(results) == (1 if body["status"] == "queued" else 0)


async def test_recorded_fixtures_through_the_endpoint(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    for name, resource in (("webhook-task-created.json", "task"), ("webhook-task-updated-complete.json", "task"),
                           ("webhook-sequenceState-created.json", "sequenceState")):
        status, body = await deliver(svc, fresh(fixture(name)), subs[resource])
        assert (status, body["status"]) == (202, "queued"), name
    await settle(svc)


async def test_redis_down_is_503(svc: Service) -> None:
    async with running_app(svc.settings, redis_url="redis://127.0.0.1:1/0") as base:
        headers = {"Outreach-Webhook-Id": "1", "Outreach-Webhook-Signature": "0" * 64}
        async with svc.http.post(f"{base}/v1/outreach/webhooks", data=b"{}", headers=headers) as response:
            assert response.status == 503
