from __future__ import annotations

import time

import aiohttp
import pytest

from sandbox.client import SandboxControl

from .conftest import Api, call_body


async def test_fail_next_after_effect_writes_but_answers_error(ana: Api, control: SandboxControl) -> None:
    await control.fail_next("/api/v2/calls", method="POST", status=503, retry_after=1, after_effect=True)
    status, body, headers = await ana.request("POST", "/calls", call_body())
    assert status == 503 and headers["Retry-After"] == "1" and body["errors"][0]["id"]
    assert len(await control.records("call")) == 1  # the write happened anyway
    status, _, _ = await ana.request("POST", "/calls", call_body(vendorCallId="call_2"))
    assert status == 201  # one-shot
    log = await control.requests(path_prefix="/api/v2/calls")
    assert [e["status"] for e in log] == [503, 201] and log[0]["fault"] == "fail_next:503"


async def test_fail_next_before_effect(ana: Api, control: SandboxControl) -> None:
    await control.fail_next("/api/v2/tasks/*/actions/markComplete", status=500)
    assert (await ana.request("POST", "/tasks/1122/actions/markComplete"))[0] == 500
    assert (await control.record("task", 1122))["attributes"]["state"] == "incomplete"


async def test_dropped_connection_is_a_disconnect(
    ana: Api, control: SandboxControl, http: aiohttp.ClientSession
) -> None:
    await control.fail_next("/api/v2/calls", method="POST", drop=True, after_effect=True)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
        await ana.request("POST", "/calls", call_body())
    assert len(await control.records("call")) == 1
    await control.faults(drop_connection_rate=1.0)
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with fresh.post(f"{ana.base}/calls", json=call_body(), headers=ana.headers()):
                pass
    await control.faults(drop_connection_rate=0.0)
    assert (await ana.request("GET", "/users"))[0] == 200


async def test_latency_and_error_rate(ana: Api, control: SandboxControl) -> None:
    await control.faults(latency_ms=150)
    started = time.perf_counter()
    assert (await ana.request("GET", "/users"))[0] == 200
    assert time.perf_counter() - started >= 0.14
    await control.faults(latency_ms=0, latency_by_prefix={"/oauth": 100}, error_rate=1.0)
    status, body, _ = await ana.request("GET", "/users")
    assert status in (500, 502, 503) and body["errors"]


async def test_control_rejects_unknown_knobs(control: SandboxControl) -> None:
    with pytest.raises(RuntimeError):
        await control.faults(nonsense=1)
