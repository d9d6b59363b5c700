"""Connected reps and teams, parked reps and each team's subscribers are indexed as they change, so /ops pages
them without reading them all; sets kept by earlier versions are folded in once."""

from __future__ import annotations

import time

from cryptography.fernet import Fernet
from redis.asyncio import Redis

from schemas.connection import TokenSet
from store import keys
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.history import EventHistory
from store.job_queue import JobWriter
from store.parking import ParkingLot
from store.queue import EventQueue
from store.subscriptions import Subscription, SubscriptionStore

TOKENS = TokenSet(access_token="a", refresh_token="r", expires_at=time.time() + 3600)


def connections(redis: Redis) -> ConnectionStore:
    return ConnectionStore(redis, TokenCipher([Fernet.generate_key().decode()]))


async def test_reps_and_teams_are_paged_in_order_and_leave_with_their_last_rep(redis: Redis) -> None:
    store = connections(redis)
    for team in ("team_b", "team_a"):
        for rep in range(3):
            await store.save_tokens(team, f"rep{rep}@x.com", TOKENS)
    await store.save_tokens("team_a", "rep0@x.com", TOKENS)  # a reconnect adds nothing
    page, total = await store.page(2, 2)
    assert total == 6 and page == [("team_a", "rep2@x.com"), ("team_b", "rep0@x.com")]
    assert await store.teams(0, 50) == (["team_a", "team_b"], 2)
    assert await store.team_size("team_a") == 3 and await store.team_members("team_b") == [
        "rep0@x.com", "rep1@x.com", "rep2@x.com"]
    for rep in range(3):
        await store.delete("team_b", f"rep{rep}@x.com")
    assert await store.teams(0, 50) == (["team_a"], 1)
    assert await store.connected_reps() == [("team_a", f"rep{rep}@x.com") for rep in range(3)]


async def test_sets_kept_by_earlier_versions_are_folded_in_once(redis: Redis) -> None:
    await redis.sadd(keys.LEGACY_CONNECTIONS, "team_a\tana@x.com", "team_b\tben@x.com")
    await redis.sadd(keys.LEGACY_PARKED_REPS, "team_a\tcy@x.com")
    store = connections(redis)
    parking = ParkingLot(redis, EventQueue(redis, JobWriter(redis)), EventHistory(redis))
    assert await store.ensure_indexed() == 2 and await store.ensure_indexed() == 0
    assert await store.teams(0, 50) == (["team_a", "team_b"], 2)
    assert await store.page(0, 50) == ([("team_a", "ana@x.com"), ("team_b", "ben@x.com")], 2)
    assert await parking.ensure_indexed() == 1 and await parking.ensure_indexed() == 0
    assert await parking.page(0, 50) == ([("team_a", "cy@x.com")], 1)
    assert not await redis.exists(keys.LEGACY_CONNECTIONS, keys.LEGACY_PARKED_REPS)


async def test_parked_figures_follow_park_release_and_expiry(redis: Redis) -> None:
    queue = EventQueue(redis, JobWriter(redis))
    parking = ParkingLot(redis, queue, EventHistory(redis))
    for index in range(3):
        await parking.park("team_a", f"rep{index % 2}@x.com", f"evt_{index}", "not_connected")
    assert await parking.figures() == (3, 2)
    await parking.release("team_a", "rep0@x.com")
    assert await parking.figures() == (1, 1)
    assert await parking.expire(time.time() + 1) == 1
    assert await parking.figures() == (0, 0)


async def test_a_teams_subscribers_follow_save_and_remove(redis: Redis) -> None:
    store = SubscriptionStore(redis, TokenCipher([Fernet.generate_key().decode()]))
    for resource, webhook_id in (("task", "11"), ("prospect", "12")):
        await store.save(Subscription(webhook_id=webhook_id, team_id="team_a", rep_email="ana@x.com",
                                      resource=resource, secret="s" * 64))
    await store.save(Subscription(webhook_id="21", team_id="team_a", rep_email="ben@x.com", resource="task",
                                  secret="s" * 64))
    assert await store.subscribers("team_a") == ["ana@x.com", "ben@x.com"]
    await store.remove("team_a", "ana@x.com", "task", "11")
    assert await store.subscribers("team_a") == ["ana@x.com", "ben@x.com"]  # one left
    await store.remove("team_a", "ana@x.com", "prospect", "12")
    await store.remove_rep("team_a", "ben@x.com")
    assert await store.subscribers("team_a") == []
    # Subscriptions stored before the index: found once by their per-rep keys.
    await redis.hset(keys.rep_subscriptions("team_c", "cy@x.com"), "task", "31")
    assert await store.ensure_indexed() == 1 and await store.ensure_indexed() == 0
    assert await store.subscribers("team_c") == ["cy@x.com"]
