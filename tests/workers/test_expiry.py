"""Bounded storage: dead letters, parked events (and the event bodies they keep) and flags older than
RETENTION_DAYS are dropped by the hourly cron and counted; younger ones stay."""

from __future__ import annotations

import time

import orjson

from store import keys
from tests.support.nooks import call_event
from tests.support.outreach_hooks import services_for
from tests.support.service import Service, eventually
from workers.retention import DAY_SECONDS, expire_retained

OLD = time.time() - 31 * DAY_SECONDS  # past the default 30 days


async def _age(svc: Service, hash_key: str, index_key: str, event_id: str, field: str) -> None:
    entry = orjson.loads(await svc.redis.hget(hash_key, event_id))
    await svc.redis.hset(hash_key, event_id, orjson.dumps({**entry, field: int(OLD)}))
    assert await svc.redis.zadd(index_key, {event_id: int(OLD)}, xx=True, ch=True) == 1


async def test_entries_older_than_the_retention_are_dropped_and_counted(svc: Service) -> None:
    # Zoe never connects: two events wait for her. Ana's calls: one dead letter, one flag, old and new of each.
    old_parked, new_parked = call_event(rep_email="zoe@acme.com"), call_event(rep_email="zoe@acme.com")
    for event in (old_parked, new_parked):
        await svc.post_event(event)
    await svc.connect()
    dead = [call_event(prospect_id=None, task_id=None, to="+10000000000") for _ in range(2)]
    flagged = [call_event(task_id=999999) for _ in range(2)]
    for event in (*dead, *flagged):
        await svc.post_event(event)

    async def settled() -> bool:
        return (await svc.redis.hlen(keys.DEAD_LETTERS) == 2 and await svc.redis.hlen(keys.FLAGGED) == 2
                and await svc.redis.hlen(keys.parked("team_acme", "zoe@acme.com")) == 2)
    await eventually(settled)

    await _age(svc, keys.DEAD_LETTERS, keys.DEAD_LETTER_INDEX, dead[0]["id"], "dead_at")
    await _age(svc, keys.FLAGGED, keys.FLAGGED_INDEX, flagged[0]["id"], "at")
    member = f"team_acme\tzoe@acme.com\t{old_parked['id']}"
    assert await svc.redis.zadd(keys.PARKED_SINCE, {member: OLD}, xx=True, ch=True) == 1

    async with services_for(svc) as ctx:
        assert await expire_retained(ctx) == {"dead_letters": 1, "parked": 1, "flags": 1}
        assert await expire_retained(ctx) == {"dead_letters": 0, "parked": 0, "flags": 0}

    assert set(await svc.redis.hkeys(keys.DEAD_LETTERS)) == {dead[1]["id"].encode()}
    assert set(await svc.redis.hkeys(keys.FLAGGED)) == {flagged[1]["id"].encode()}
    assert set(await svc.redis.hkeys(keys.parked("team_acme", "zoe@acme.com"))) == {new_parked["id"].encode()}
    # The event bodies the dropped entries kept are gone too; the kept ones still have theirs.
    assert not await svc.redis.exists(keys.event(dead[0]["id"]), keys.event(old_parked["id"]))
    assert await svc.redis.exists(keys.event(dead[1]["id"]), keys.event(new_parked["id"])) == 2
    metrics = await svc.metrics()
    for counter in ("dead_letters_expired", "parked_expired", "flags_expired"):
        assert any(counter in line and line.rstrip().endswith(" 1.0") for line in metrics.splitlines()), counter
    # Zoe connecting later still gets her recent event logged.
    await svc.api("PUT", "/v1/teams/team_acme/user-mappings/zoe@acme.com", json={"outreach_user_id": 3})
    assert (await svc.connect(rep_email="zoe@acme.com", login_email="cleo@acme.com"))[0] == 200
    await eventually(lambda: svc.calls(new_parked["data"]["call_id"]))
