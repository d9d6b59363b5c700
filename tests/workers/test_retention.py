"""The data rule on the call-logging path: after calls are logged, flagged, parked and dead-lettered, neither
Redis, the logs nor any /ops page or answer hold any Outreach record data (prospect, account, task, sequence,
disposition fields)."""

from __future__ import annotations

import logging

import pytest

from tests.support.nooks import call_event
from tests.support.retention import dump_redis
from tests.support.service import Service, eventually

# Values only Outreach knows: none of them is ever sent by Nooks.
OUTREACH_VALUES = ["Whitfield", "VP Sales", "Globex", "Q4 Outbound", "Left Voicemail", "Answered - Meeting Set",
                   "America/Los_Angeles", "sequence_step_call", "Intro call"]


async def test_nothing_from_outreach_is_kept(svc: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    parked = call_event("call_r_parked", disposition_id=None, disposition="left voicemail")
    await svc.post_event(parked)

    async def is_parked() -> bool:
        return (await svc.connection("team_acme", "ana@acme.com"))["parked_events"] == 1
    await eventually(is_parked)
    await svc.connect()
    await svc.post_event(call_event("call_r_logged"))
    await svc.post_event(call_event("call_r_flagged", task_id=999999, disposition_id=None, disposition="Nope"))
    await svc.post_event(call_event("call_r_dead", prospect_id=None, task_id=None, to="+10000000000"))
    for call_id in ("call_r_parked", "call_r_logged", "call_r_flagged"):
        await eventually(lambda call_id=call_id: svc.calls(call_id))
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=422)
    await svc.post_event(call_event("call_r_refused", task_id=None))

    async def two_dead() -> bool:
        return len((await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"]) == 2
    await eventually(two_dead)

    async def told() -> bool:  # every story step is written (four times a second) before Redis is read
        events = (await svc.ops_api("GET", "/ops/api/search?q=call_r_refused"))[1]["events"]
        return bool(events) and events[0]["state"] == "dead_lettered"
    await eventually(told)
    pages = []
    for path in ("/ops/", "/ops/api/summary", "/ops/api/dead-letters", "/ops/api/parked", "/ops/api/flagged",
                 "/ops/api/retries", "/ops/api/connections", "/ops/api/ingest", "/ops/api/audit",
                 "/ops/api/search?q=ana@acme.com", "/ops/search?q=ana@acme.com"):
        status, body = await svc.ops_api("GET", path)
        assert status == 200, path
        pages.append(str(body))
    dumped = await dump_redis(svc.redis)
    for value in OUTREACH_VALUES:
        assert value not in dumped, value
        assert value not in caplog.text, value
        assert not any(value in page for page in pages), value
    # The seeded records really do carry these values: the scan is looking for something that exists.
    prospect = next(p for p in await svc.sandbox.records("prospect") if p["id"] == 3456)
    assert "Whitfield" in str(prospect)
