"""Quick retries of one Outreach request (outreach/quick_retry.py), against the sandbox over HTTP."""

from __future__ import annotations

import time

import pytest

from outreach import api
from outreach.errors import OutreachUnavailable, RateLimited
from outreach.quick_retry import WINDOW_SECONDS, retried, wait_before_retry
from runtime.services import Services
from tests.support.service import Service
from tools.embedded_redis import free_port


async def _sent(svc: Service, method: str, path: str) -> int:
    return sum(1 for r in await svc.sandbox.requests() if r["method"] == method and r["path"] == path)


async def test_a_read_is_retried_through_5xx_and_a_dropped_connection(svc: Service, services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.clear_requests()
    await svc.sandbox.fail_next("/api/v2/prospects/3456", status=502)
    await svc.sandbox.fail_next("/api/v2/prospects/3456", drop=True)
    started = time.monotonic()
    assert await api.get_one(rep, "prospects", 3456) is not None
    assert time.monotonic() - started < WINDOW_SECONDS
    assert await _sent(svc, "GET", "/api/v2/prospects/3456") == 3


async def test_a_read_failing_past_the_window_gives_up(svc: Service, services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.clear_requests()
    await svc.sandbox.fail_next("/api/v2/prospects/3456", status=503, count=10)
    with pytest.raises(OutreachUnavailable):
        await api.get_one(rep, "prospects", 3456)
    assert await _sent(svc, "GET", "/api/v2/prospects/3456") == 4  # the try and three quick retries


async def test_a_429_waits_its_retry_after_then_tries_again(svc: Service, services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.fail_next("/api/v2/prospects/3456", status=429, retry_after=1)
    started = time.monotonic()
    assert await api.get_one(rep, "prospects", 3456) is not None
    assert time.monotonic() - started >= 1.0


async def test_a_write_that_may_have_been_done_is_not_sent_again(svc: Service, services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.clear_requests()
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=502)
    with pytest.raises(OutreachUnavailable):
        await rep.post("/calls", body={"data": {"type": "call", "attributes": {}}})  # no done-check to ask
    assert await _sent(svc, "POST", "/api/v2/calls") == 1


async def test_a_write_with_a_done_check_asks_it_before_sending_again(svc: Service, services: Services) -> None:
    """The answer to POST /calls is lost after Outreach made the call: the done-check finds it, no second POST."""
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.clear_requests()
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", after_effect=True, drop=True)
    made: list[int] = []

    async def done() -> int | None:
        calls = await svc.calls("vendor_1")
        made.extend(int(call["id"]) for call in calls)
        return made[0] if made else None

    call_id = await api.create_call(rep, {"vendorCallId": "vendor_1", "direction": "outbound"},
                                    {"prospect": {"data": {"type": "prospect", "id": 3456}}}, done=done)
    assert [call_id] == made and await _sent(svc, "POST", "/api/v2/calls") == 1


async def test_a_write_that_never_left_is_sent_again(svc: Service) -> None:
    """No connection could be made (nothing listens on the port yet): the POST certainly never reached Outreach."""
    port = free_port()
    services = Services.open(svc.settings.model_copy(update={"outreach_api_url": f"http://127.0.0.1:{port}/api/v2"}))
    try:
        await svc.connect()
        rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
        started = time.monotonic()
        with pytest.raises(OutreachUnavailable) as info:
            await rep.post("/calls", body={})
        assert info.value.sent is False
        assert time.monotonic() - started > 0.1  # tried again after a pause, not given up at once
    finally:
        await services.close()


def test_what_may_be_retried() -> None:
    dropped, refused = OutreachUnavailable("dropped"), OutreachUnavailable("refused", sent=False)
    assert wait_before_retry(dropped, idempotent=True) == 0.0
    assert wait_before_retry(dropped, idempotent=False) is None
    assert wait_before_retry(refused, idempotent=False) == 0.0
    assert wait_before_retry(OutreachUnavailable("503", retry_after=1.5), idempotent=True) == 1.5
    assert wait_before_retry(RateLimited(1.0), idempotent=False) == 1.0  # a 429 did nothing


async def test_a_guarded_write_asks_before_writing_again() -> None:
    writes: list[str] = []
    asked: list[str] = []

    async def write() -> int:
        writes.append("write")
        raise OutreachUnavailable("dropped after sending")

    async def done() -> int | None:
        asked.append("asked")
        return 42 if len(asked) == 2 else None

    assert await retried(write, idempotent=False, done=done) == 42
    assert (writes, asked) == (["write", "write"], ["asked", "asked"])


async def test_a_guarded_write_is_sent_again_without_asking_when_nothing_was_done() -> None:
    """A 429 or a request never sent did nothing: sent again (one retry layer: each request is wrapped once),
    without asking the done-check."""
    for error in (RateLimited(0.1), OutreachUnavailable("refused", sent=False)):
        writes: list[str] = []

        async def write(error: Exception = error) -> int:
            writes.append("write")
            if len(writes) == 1:
                raise error
            return 7

        async def done() -> int | None:
            raise AssertionError("nothing was sent: nothing to ask about")

        assert await retried(write, idempotent=False, done=done) == 7
        assert writes == ["write", "write"]


async def test_a_long_retry_after_is_left_to_the_job() -> None:
    tries: list[int] = []

    async def read() -> int:
        tries.append(1)
        raise OutreachUnavailable("503", retry_after=30)

    with pytest.raises(OutreachUnavailable):
        await retried(read, idempotent=True)
    assert len(tries) == 1
