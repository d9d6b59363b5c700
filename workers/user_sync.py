"""The `sync_users` cron: each team's Outreach users changed since its last sync (`filter[updatedAt]`), read with
one connected rep's token, so a `user.*` webhook Outreach never delivered still reaches the directory. A team
whose users never changed costs one request per run; the whole directory is read only on the first connect.
"""

from __future__ import annotations

import logging
from typing import Any

from outreach.errors import OutreachError
from outreach.users import read_users, store_users
from runtime.services import Services
from schemas.connection import ConnectionStatus
from store import keys
from store.locks import Lock
from workers.reconcile import budget_low

log = logging.getLogger("workers.user_sync")

LOCK_MS = 5 * 60_000


async def sync_users(ctx: dict[str, Any]) -> dict[str, Any]:
    services: Services = ctx["services"]
    teams: dict[str, list[str]] = {}
    for team_id, rep_email in await services.stores.connections.connected_reps():
        teams.setdefault(team_id, []).append(rep_email)
    synced = 0
    for team_id, reps in sorted(teams.items()):
        synced += await sync_team(services, team_id, reps)
    return {"status": "done", "teams": len(teams), "users_read": synced}


async def sync_team(services: Services, team_id: str, reps: list[str]) -> int:
    """Read the team's changed users with the subscription holder's token (else another connected rep's);
    answers how many users were read. A team never synced yet is left to its next connect."""
    since = await services.stores.users.synced_to(team_id)
    if since is None:
        return 0
    rep_email = await _reader(services, team_id, reps)
    if rep_email is None:
        return 0
    lock = Lock(services.redis, keys.users_sync_lock(team_id), LOCK_MS)
    if not await lock.acquire():
        return 0
    try:
        directory = services.stores.users
        read = await read_users(services.outreach.client.for_rep(team_id, rep_email), directory, team_id, since)
        await store_users(directory, team_id, read)
    except OutreachError as problem:  # status, error id and pointer only
        log.warning("user sync failed team=%s: %s", team_id, problem)
        return 0
    finally:
        await lock.release()
    services.ops.telemetry.count("outreach_users_synced", len(read.changed))
    return len(read.changed)


async def _reader(services: Services, team_id: str, reps: list[str]) -> str | None:
    holder = await services.stores.holders.holder(team_id)
    for rep_email in ([holder] if holder in reps else []) + sorted(reps):
        if rep_email is None or budget_low(services, team_id, rep_email):
            continue
        if await services.stores.connections.status(team_id, rep_email) is ConnectionStatus.CONNECTED:
            return rep_email
    return None
