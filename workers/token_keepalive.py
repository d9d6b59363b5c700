"""The `renew_tokens` cron: every connected rep's refresh token is renewed before half of
OUTREACH_REFRESH_TOKEN_DAYS has passed since Outreach issued it, calls or no calls, so a rep back from two weeks
off is not asked to reconnect (Outreach stops honouring a refresh token after about 14 days).

Each rep is renewed at its own moment between RENEW_FROM and RENEW_FROM + RENEW_SPREAD of the lifetime after
issue (a hash of the rep and the issue time), so reps who connected together are not all renewed together; a run
renews at most MAX_PER_RUN, CONCURRENT at a time, each only while the rep's rate budget has room (else it waits for
a later run), and through the token manager's lock, so it is single-flight with every other refresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from outreach.errors import NotConnected, OutreachError, RateLimited, ReconnectRequired
from runtime.services import Services

log = logging.getLogger("workers.token_keepalive")

DAY_SECONDS = 86_400
RENEW_FROM = 0.25  # of the lifetime after issue: the earliest a rep's token is renewed
RENEW_SPREAD = 0.2  # ... and the latest is RENEW_FROM + RENEW_SPREAD (45 %), before half has passed
MAX_PER_RUN = 100
CONCURRENT = 4
_scheduled: set[int] = set()  # ids of the Services whose older connections were put into the schedule


def renew_at(team_id: str, rep_email: str, issued_at: float, lifetime: float) -> float:
    """When this rep's refresh token is due for renewal (epoch seconds): its own point of the spread."""
    digest = hashlib.sha256(f"{team_id}\t{rep_email}\t{issued_at}".encode()).digest()
    share = int.from_bytes(digest[:4], "big") / 2**32
    return issued_at + lifetime * (RENEW_FROM + RENEW_SPREAD * share)


async def renew_tokens(ctx: dict[str, Any]) -> dict[str, int]:
    """Renew the refresh tokens that are due; answers how many were renewed, refused, deferred or failed."""
    services: Services = ctx["services"]
    if id(services) not in _scheduled:  # once per process: connections stored by an older version join in
        await services.stores.connections.schedule_unscheduled()
        _scheduled.add(id(services))
    lifetime = services.settings.outreach_refresh_token_days * DAY_SECONDS
    now = time.time()
    issued = await services.stores.connections.refresh_tokens_issued(now - RENEW_FROM * lifetime, 4 * MAX_PER_RUN)
    due = [(team_id, rep_email, at) for team_id, rep_email, at in issued
           if renew_at(team_id, rep_email, at, lifetime) <= now][:MAX_PER_RUN]
    gate = asyncio.Semaphore(CONCURRENT)

    async def renew(team_id: str, rep_email: str, issued_at: float) -> str:
        async with gate:
            return await _renew(services, team_id, rep_email, issued_at)

    outcomes = await asyncio.gather(*(renew(*entry) for entry in due))
    return {outcome: outcomes.count(outcome) for outcome in ("renewed", "refused", "deferred", "failed")}


async def _renew(services: Services, team_id: str, rep_email: str, issued_at: float) -> str:
    budget, rep_key = services.outreach.client.budget, f"{team_id}\t{rep_email}"
    try:
        await budget.acquire(rep_key)  # within the rep's rate budget: a spent one waits for a later run
    except RateLimited:
        return "deferred"
    try:
        await services.outreach.tokens.renew(team_id, rep_email, issued_at=issued_at)
    except (ReconnectRequired, NotConnected):
        return "refused"  # marked needs_reconnect (the team's webhook set moves), or gone meanwhile
    except RateLimited:
        return "deferred"
    except OutreachError as failed:
        log.warning("token renewal failed team=%s rep=%s: %s", team_id, rep_email, failed)
        return "failed"  # the next run tries again: there is time left before half the lifetime
    finally:
        budget.release(rep_key, None)
    log.info("tokens renewed team=%s rep=%s", team_id, rep_email)
    return "renewed"
