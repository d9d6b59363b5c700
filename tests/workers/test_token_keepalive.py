"""The refresh-token keep-alive (CONTRACT, OUTREACH_REFRESH_TOKEN_DAYS): an idle rep's tokens are renewed before
half the refresh token's lifetime has passed, so the rep is never asked to reconnect for nothing. Time is scaled:
a lifetime of 3 seconds, in the service and in the sandbox alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.services import Services
from store import keys
from tests.support.nooks import call_event
from tests.support.service import Service, eventually
from workers.token_keepalive import DAY_SECONDS, RENEW_FROM, RENEW_SPREAD, renew_at, renew_tokens

LIFETIME = 3.0  # seconds, for the service's OUTREACH_REFRESH_TOKEN_DAYS and the sandbox's refresh tokens


@pytest.fixture
async def ctx(svc: Service) -> AsyncIterator[dict[str, Any]]:
    """A worker's ctx whose settings say refresh tokens live LIFETIME seconds, as the sandbox's now do."""
    await svc.sandbox.faults(refresh_token_lifetime_s=LIFETIME)
    settings = svc.settings.model_copy(update={"outreach_refresh_token_days": LIFETIME / DAY_SECONDS})
    services = Services.open(settings)
    try:
        yield {"services": services}
    finally:
        await services.close()


def test_each_rep_has_its_own_moment_before_half_the_lifetime() -> None:
    """Reps who connected together are renewed at different moments, all between 25 % and 45 % of it."""
    lifetime, issued = 14 * DAY_SECONDS, 1_800_000_000.0
    moments = [renew_at("team_acme", f"rep{index}@acme.com", issued, lifetime) for index in range(200)]
    shares = [(moment - issued) / lifetime for moment in moments]
    assert all(RENEW_FROM <= share <= RENEW_FROM + RENEW_SPREAD < 0.5 for share in shares)
    assert len(set(moments)) == 200 and max(shares) - min(shares) > 0.15


async def test_an_idle_reps_tokens_outlive_the_refresh_tokens_lifetime(svc: Service, ctx: dict[str, Any]) -> None:
    """No call for longer than a refresh token lives: the rep is still connected and the next call lands (without
    the keep-alive the stored refresh token has expired, the rep needs reconnecting and the call waits)."""
    services: Services = ctx["services"]
    connected_at = time.time()
    assert (await svc.connect())[0] == 200
    renewals: list[float] = []
    while time.time() < connected_at + LIFETIME * 1.3:  # past the first refresh token's end
        if (await renew_tokens(ctx))["renewed"]:
            renewals.append(time.time() - connected_at)
        status, summary = await svc.ops_api("GET", "/ops/api/summary")
        assert status == 200 and summary["oldest_refresh_token_seconds"] < LIFETIME / 2
        await asyncio.sleep(0.05)
    assert renewals and LIFETIME * RENEW_FROM <= renewals[0] < LIFETIME / 2, renewals
    await svc.sandbox.expire_tokens("ana@acme.com")  # the next request needs the refresh token
    assert (await svc.post_event(call_event("call_after_holiday")))[0] == 202
    await eventually(lambda: svc.calls("call_after_holiday"))
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "connected"
    issued = await services.stores.connections.oldest_refresh_token()
    assert issued is not None and time.time() - issued < LIFETIME


async def test_a_rep_whose_rate_budget_is_spent_waits_for_a_later_run(svc: Service, ctx: dict[str, Any]) -> None:
    services: Services = ctx["services"]
    assert (await svc.connect())[0] == 200
    member = keys.rep_member("team_acme", "ana@acme.com")
    services.outreach.client.budget.exhausted(member, 30)  # Outreach said 429 for the next 30 s
    await svc.redis.zadd(keys.REFRESH_ISSUED, {member: time.time() - LIFETIME * 0.46})  # due for renewal
    assert await renew_tokens(ctx) == {"renewed": 0, "refused": 0, "deferred": 1, "failed": 0}
    mints = (await svc.sandbox.state())["token_mints"]
    assert mints == {"1": 1}  # only the consent's


async def test_connections_stored_before_issue_times_were_kept_join_the_schedule(svc: Service,
                                                                                 ctx: dict[str, Any]) -> None:
    assert (await svc.connect())[0] == 200
    member = keys.rep_member("team_acme", "ana@acme.com")
    await svc.redis.zrem(keys.REFRESH_ISSUED, member)  # as an older version stored it
    saved = float(await svc.redis.hget(keys.connection("team_acme", "ana@acme.com"), "updated_at") or 0)
    await renew_tokens(ctx)
    assert await svc.redis.zscore(keys.REFRESH_ISSUED, member) == saved
