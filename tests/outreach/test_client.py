"""The Outreach client against the sandbox over HTTP: auth, errors, pagination, safe messages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from outreach import api
from outreach.errors import OutreachRejected, OutreachUnavailable, RateLimited, ReconnectRequired
from runtime.services import Services
from tests.support.service import Service


@pytest.fixture
async def services(svc: Service) -> AsyncIterator[Services]:
    await svc.connect()
    opened = Services.open(svc.settings)
    yield opened
    await opened.close()


async def test_reads_follow_pagination(svc: Service, services: Services) -> None:
    rep = services.outreach.for_rep("team_acme", "ana@acme.com")
    ids = [t.id async for t in api.iterate(rep, "tasks", {"page[size]": 7, "filter[owner][id]": 1})]
    assert len(ids) == len(set(ids)) > 7
    pages = [r for r in await svc.sandbox.requests("/api/v2/tasks") if r["method"] == "GET"]
    assert len(pages) > 1


async def test_not_found_is_none(services: Services) -> None:
    rep = services.outreach.for_rep("team_acme", "ana@acme.com")
    assert await api.get_one(rep, "prospects", 99999999) is None


async def test_validation_error_message_holds_no_detail(services: Services) -> None:
    rep = services.outreach.for_rep("team_acme", "ana@acme.com")
    # A request Outreach's contract allows, refused for its data (no prospect 95): the detail quotes the id.
    with pytest.raises(OutreachRejected) as info:
        await api.create_call(rep, {"note": "secret note"}, {"prospect": {"data": {"type": "prospect", "id": 95}}})
    message = str(info.value)
    assert message.startswith("Outreach answered 422 validationError")
    assert "secret" not in message and "95" not in message


async def test_5xx_dropped_connection_and_429(svc: Service, services: Services) -> None:
    rep = services.outreach.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=502)
    with pytest.raises(OutreachUnavailable):
        await api.create_call(rep, {}, {})
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", drop=True)
    with pytest.raises(OutreachUnavailable):
        await api.create_call(rep, {}, {})
    await svc.sandbox.fail_next("/api/v2/prospects/*", status=429, retry_after=7)
    with pytest.raises(RateLimited) as info:
        await api.get_one(rep, "prospects", 3456)
    assert info.value.retry_after == 7


async def test_expired_token_is_refreshed_and_revoked_access_asks_for_reconnect(
        svc: Service, services: Services) -> None:
    rep = services.outreach.for_rep("team_acme", "ana@acme.com")
    await svc.sandbox.expire_tokens("ana@acme.com")
    assert await api.get_one(rep, "prospects", 3456) is not None
    await svc.sandbox.revoke_tokens("ana@acme.com")
    with pytest.raises(ReconnectRequired):
        await api.get_one(rep, "prospects", 3456)
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "needs_reconnect"
