"""The Outreach client against the sandbox over HTTP: auth, errors, pagination, safe messages."""

from __future__ import annotations

import asyncio

import pytest

from outreach import api
from outreach.errors import (
    ListTruncated,
    NotConnected,
    OutreachRejected,
    OutreachUnavailable,
    RateLimited,
    ReconnectRequired,
)
from runtime.services import Services
from store import keys
from tests.support.service import Service, eventually


async def test_reads_follow_pagination(svc: Service, services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    ids = [t.id async for t in api.iterate(rep, "tasks", {"page[size]": 7, "filter[owner][id]": 1})]
    assert len(ids) == len(set(ids)) > 7
    pages = [r for r in await svc.sandbox.requests("/api/v2/tasks") if r["method"] == "GET"]
    assert len(pages) > 1


async def test_a_list_longer_than_the_page_limit_is_an_error_not_a_quiet_end(services: Services) -> None:
    """Ana has over 60 tasks: one per page is more pages than a read may take. A caller must not act on part of
    a list as if it were the whole; only a partial read (resuming from its own cursor, or best effort) may stop
    there."""
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    params = {"page[size]": 1, "filter[owner][id]": 1}
    with pytest.raises(ListTruncated):
        [t.id async for t in api.iterate(rep, "tasks", params)]
    first = [t.id async for t in api.iterate(rep, "tasks", params, partial=True)]
    assert len(first) == api.MAX_PAGES
    assert len([t.id async for t in api.iterate(rep, "tasks", params, max_pages=200)]) > api.MAX_PAGES


async def test_not_found_is_none(services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    assert await api.get_one(rep, "prospects", 99999999) is None


async def test_validation_error_message_holds_no_detail(services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    # A request Outreach's contract allows, refused for its data (no prospect 95): the detail quotes the id.
    with pytest.raises(OutreachRejected) as info:
        await api.create_call(rep, {"note": "secret note"}, {"prospect": {"data": {"type": "prospect", "id": 95}}},
                              done=_nothing_written)
    message = str(info.value)
    assert message.startswith("Outreach answered 422 validationError")
    assert "secret" not in message and "95" not in message


async def test_5xx_dropped_connection_and_429(svc: Service, services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=502, count=4)
    with pytest.raises(OutreachUnavailable):
        await api.create_call(rep, {}, {}, done=_nothing_written)
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", drop=True, count=4)
    with pytest.raises(OutreachUnavailable):
        await api.create_call(rep, {}, {}, done=_nothing_written)
    await svc.sandbox.fail_next("/api/v2/prospects/*", status=429, retry_after=7)
    with pytest.raises(RateLimited) as info:
        await api.get_one(rep, "prospects", 3456)
    assert info.value.retry_after == 7


async def test_expired_token_is_refreshed_and_revoked_access_asks_for_reconnect(
        svc: Service, services: Services) -> None:
    rep = services.outreach.client.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.expire_tokens("ana@acme.com")
    assert await api.get_one(rep, "prospects", 3456) is not None
    await svc.sandbox.revoke_tokens("ana@acme.com")
    with pytest.raises(ReconnectRequired):
        await api.get_one(rep, "prospects", 3456)
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "needs_reconnect"


async def _nothing_written() -> int | None:
    return None


async def test_a_refresh_that_ends_after_a_disconnect_writes_nothing_back(svc: Service, services: Services) -> None:
    """The rep disconnected while Outreach answered the refresh: the connection stays gone (the old code wrote it
    back, connected, with tokens the rep had withdrawn)."""
    stale = (await services.stores.connections.tokens("team_acme", "ana@acme.com"))
    assert stale is not None
    await svc.sandbox.faults(latency_by_prefix={"/oauth/token": 600})
    refreshing = asyncio.create_task(
        services.outreach.tokens.refresh("team_acme", "ana@acme.com", stale=stale.access_token))
    await eventually(lambda: svc.redis.exists(keys.refresh_lock("team_acme", "ana@acme.com")))  # refreshing now
    assert (await svc.api("DELETE", "/v1/teams/team_acme/reps/ana@acme.com/connection"))[0] == 200
    with pytest.raises(NotConnected):
        await refreshing
    assert not await svc.redis.exists(keys.connection("team_acme", "ana@acme.com"))
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "not_connected"
    assert not await svc.redis.zscore(keys.REFRESH_ISSUED, keys.rep_member("team_acme", "ana@acme.com"))
