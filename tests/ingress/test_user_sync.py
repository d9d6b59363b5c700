"""The team's users are read whole once, on the first connect; a reconnect reads a sample of known users to check
the org (`filter[id]`), and the periodic sync reads only the users changed since (`filter[updatedAt]=<cursor>..inf`,
checked against the sandbox and the spec)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from outreach.api import MAX_PAGE_SIZE
from store import keys
from store.users import UserDirectory
from tests.support.outreach_hooks import connect_with_webhooks, services_for, settle
from tests.support.service import Service
from workers.user_sync import sync_users


def _user_reads(requests: list[dict[str, Any]]) -> list[dict[str, list[str]]]:
    return [parse_qs(r["query"]) for r in requests if r["method"] == "GET" and r["path"] == "/api/v2/users"]


async def test_connects_read_the_whole_directory_the_periodic_sync_only_what_changed(svc: Service) -> None:
    await svc.sandbox.clear_requests()
    status, _ = await svc.connect()
    assert status == 200
    [first] = _user_reads(await svc.sandbox.requests("/api/v2/users"))
    assert "filter[updatedAt]" not in first and first["page[size]"] == [str(MAX_PAGE_SIZE)]
    assert await svc.users_cursor() is not None
    created = await svc.sandbox.create("user", {"email": "dee@acme.com", "firstName": "Dee", "lastName": "Ng"})
    await svc.sandbox.clear_requests()
    status, _ = await svc.connect()  # a reconnect: the team's known users, read back in one request, name the org
    assert status == 200
    [again] = _user_reads(await svc.sandbox.requests("/api/v2/users"))
    assert again["filter[id]"] == ["1,2,3"] and again["page[size]"] == ["3"] and "filter[updatedAt]" not in again
    assert await svc.redis.hget(keys.users("team_acme"), created["id"]) is None  # the periodic sync reads her
    async with services_for(svc) as ctx:
        await sync_users(ctx)
    stored = await svc.redis.hget(keys.users("team_acme"), created["id"])
    assert stored is not None and b"dee@acme.com" in stored
    assert not await svc.redis.keys(keys.users_staged("*", "*"))  # the staged read became the team's users


async def test_reconnect_of_an_unchanged_user_confirms_from_the_directory(svc: Service) -> None:
    await svc.connect()
    await svc.sandbox.clear_requests()
    status, page = await svc.connect(login_email="ben@acme.com")  # ana's link, ben's sign-in: still refused
    assert status == 400 and "ben@acme.com" in page
    status, _ = await svc.connect()
    assert status == 200
    # Neither consent read a user one by one: the owner was found among the changed users or in the directory.
    assert not [r for r in await svc.sandbox.requests("/api/v2/users/") if r["method"] == "GET"]


async def test_the_periodic_sync_reads_changed_users(svc: Service) -> None:
    await svc.connect()
    cursor = await svc.users_cursor()
    assert cursor is not None
    await svc.sandbox.update("user", 2, {"name": "Benedict Okafor", "firstName": "Benedict"})
    await svc.sandbox.clear_requests()
    async with services_for(svc) as ctx:
        result = await sync_users(ctx)
    assert result["teams"] == 1 and result["users_read"] >= 1
    [read] = _user_reads(await svc.sandbox.requests("/api/v2/users"))
    assert read["filter[updatedAt]"] == [f"{cursor}..inf"]
    stored = await svc.redis.hget(keys.users("team_acme"), "2")
    assert stored is not None and b"Benedict Okafor" in stored
    assert (await svc.users_cursor() or "") >= cursor  # the next read starts no earlier


async def test_a_refused_first_connect_keeps_none_of_the_directory_it_read(svc: Service) -> None:
    status, page = await svc.connect(login_email="ben@acme.com")  # ana's link, ben's sign-in
    assert status == 400 and "ben@acme.com" in page
    assert await svc.sandbox.requests("/api/v2/users")  # the whole directory was read, page by page
    assert not await svc.redis.keys(keys.users_staged("*", "*"))
    assert not await svc.redis.exists(keys.users("team_acme"), keys.users_synced("team_acme"))


async def test_the_owner_index_holds_through_map_reconnect_user_webhooks_and_remap(svc: Service) -> None:
    directory = UserDirectory(svc.redis)
    await connect_with_webhooks(svc)
    assert (await svc.api("PUT", "/v1/teams/team_acme/user-mappings/ben@acme.com", json={"outreach_user_id": 2}))[0] \
        == 200
    assert await directory.reps_of("team_acme", [1, 2]) == {"ana@acme.com", "ben@acme.com"}
    status, _ = await svc.connect()  # a reconnect keeps the mapping, and so the index
    assert status == 200
    await svc.sandbox.update("user", 2, {"name": "Benedict Okafor"})  # a user.updated webhook
    await settle(svc)
    assert b"Benedict" in (await svc.redis.hget(keys.users("team_acme"), "2") or b"")
    assert await directory.reps_of("team_acme", [2]) == {"ben@acme.com"}
    assert (await svc.api("PUT", "/v1/teams/team_acme/user-mappings/ben@acme.com", json={"outreach_user_id": 3}))[0] \
        == 200
    assert await directory.reps_of("team_acme", [2]) == set()
    assert await directory.reps_of("team_acme", [3]) == {"ben@acme.com"}
    assert await svc.redis.smembers(keys.owner_reps("team_acme", 3)) == {b"ben@acme.com"}  # emails only
