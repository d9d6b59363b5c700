"""The User Mapping and its owner index (Outreach user id → reps): kept together through map and remap, and
built once for mappings stored before the index existed."""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.connection import OutreachUser
from store import keys
from store.users import UserDirectory

TEAM = "team_x"


async def test_the_owner_index_follows_map_and_remap(redis: Redis) -> None:
    users = UserDirectory(redis)
    assert await users.map_rep(TEAM, "a@x.com", 1) is True
    assert await users.map_rep(TEAM, "b@x.com", 1) is True
    assert await users.reps_of(TEAM, [1]) == {"a@x.com", "b@x.com"}
    assert await users.map_rep(TEAM, "a@x.com", 1) is False  # unchanged
    assert await users.map_rep(TEAM, "a@x.com", 2) is True  # remapped: gone from user 1's reps
    assert await users.reps_of(TEAM, [1]) == {"b@x.com"}
    assert await users.reps_of(TEAM, [2]) == {"a@x.com"}
    assert await users.reps_of(TEAM, [1, 2, 3]) == {"a@x.com", "b@x.com"}
    assert await users.reps_of(TEAM, []) == set()
    assert await users.reps_of("team_y", [1]) == set()  # per team
    # Ids and emails only: the index holds rep emails, keyed by team and Outreach user id.
    assert await redis.smembers(keys.owner_reps(TEAM, 2)) == {b"a@x.com"}


async def test_mappings_name_only_the_mapped_users(redis: Redis) -> None:
    users = UserDirectory(redis)
    await users.upsert_users(TEAM, [OutreachUser(id=i, email=f"u{i}@x.com", name=f"U {i}") for i in range(1, 50)])
    await users.map_rep(TEAM, "b@x.com", 7)
    await users.map_rep(TEAM, "a@x.com", 999)  # not (yet) among the synced users
    entries = [e.model_dump() for e in await users.mappings(TEAM)]
    assert entries == [
        {"rep_email": "a@x.com", "outreach_user_id": 999, "email": None, "name": None},
        {"rep_email": "b@x.com", "outreach_user_id": 7, "email": "u7@x.com", "name": "U 7"},
    ]
    assert await users.user(TEAM, 7) == OutreachUser(id=7, email="u7@x.com", name="U 7")
    assert await users.user(TEAM, 999) is None
    assert await users.user_count(TEAM) == 49


async def test_a_staged_directory_replaces_the_teams_users_in_one_step(redis: Redis) -> None:
    users = UserDirectory(redis)
    await users.upsert_users(TEAM, [OutreachUser(id=9, email="old@x.com", name="Old")])
    staged = keys.users_staged(TEAM, "n1")
    await users.stage_users(staged, [OutreachUser(id=1, email="a@x.com", name="A")])
    await users.stage_users(staged, [OutreachUser(id=2, email="b@x.com", name="B")])
    assert 0 < await redis.ttl(staged) <= 600  # a read whose connect never finishes goes by itself
    assert await users.user_count(TEAM) == 1  # nothing is the team's until replaced
    await users.replace_users(TEAM, staged, "2026-01-01T00:00:00.000Z")
    assert set(await users.users(TEAM)) == {1, 2} and not await redis.exists(staged)
    assert await redis.ttl(keys.users(TEAM)) == -1
    await users.replace_users(TEAM, keys.users_staged(TEAM, "none read"), "2026-01-02T00:00:00.000Z")
    assert await users.user_count(TEAM) == 0
    dropped = keys.users_staged(TEAM, "n2")
    await users.stage_users(dropped, [OutreachUser(id=3, email="c@x.com", name="C")])
    await users.drop_staged(dropped)
    assert not await redis.exists(dropped)


async def test_sync_cursor_and_upserts(redis: Redis) -> None:
    users = UserDirectory(redis)
    assert await users.synced_to(TEAM) is None
    staged = keys.users_staged(TEAM, "n")
    await users.stage_users(staged, [OutreachUser(id=1, email="a@x.com", name="A")])
    await users.replace_users(TEAM, staged, "2026-01-01T00:00:00.000Z")
    await users.upsert_users(TEAM, [OutreachUser(id=2, email="b@x.com", name="B"),
                                    OutreachUser(id=1, email="a2@x.com", name="A2")], "2026-01-02T00:00:00.000Z")
    assert await users.synced_to(TEAM) == "2026-01-02T00:00:00.000Z"
    assert await users.users(TEAM) == {1: OutreachUser(id=1, email="a2@x.com", name="A2"),
                                       2: OutreachUser(id=2, email="b@x.com", name="B")}
    await users.upsert_users(TEAM, [OutreachUser(id=3, email="c@x.com", name="C")])  # a webhook: cursor kept
    assert await users.synced_to(TEAM) == "2026-01-02T00:00:00.000Z"
    await redis.delete(keys.users(TEAM))  # users dropped: the next read is whole again
    assert await users.synced_to(TEAM) is None


async def test_mappings_kept_before_the_index_are_indexed_once(redis: Redis) -> None:
    await redis.hset(keys.mapping(TEAM), mapping={"a@x.com": "1", "b@x.com": "1", "c@x.com": "2"})
    await redis.hset(keys.mapping("team_y"), mapping={"d@y.com": "1"})
    users = UserDirectory(redis)
    assert await users.ensure_owner_index() == 4
    assert await users.reps_of(TEAM, [1]) == {"a@x.com", "b@x.com"}
    assert await users.reps_of("team_y", [1]) == {"d@y.com"}
    assert await users.ensure_owner_index() == 0  # once per deployment
    await users.map_rep(TEAM, "c@x.com", 1)
    assert await users.reps_of(TEAM, [2]) == set()
