"""Each team's webhook subscriptions for /ops: who holds the set, whether it is whole, what is left over.

Read from Redis only (no Outreach call): the holder record, the stored sets and the reps' connections. The
repair cron (every 5 minutes) is what checks the set against Outreach; `checked_at` says when it last did.
"""

from __future__ import annotations

from outreach.webhooks import has_scope
from runtime.services import Services
from schemas.connection import ConnectionStatus
from schemas.ops import TeamWebhooks
from schemas.outreach_webhooks import SUBSCRIBED_RESOURCES


async def team_webhooks(services: Services, offset: int, limit: int) -> tuple[list[TeamWebhooks], int]:
    """A page of teams (by name) and how many teams have a stored connection. Per team: its holder record, the
    sets of the reps that have subscriptions stored (normally the holder alone) and the team's size, never a walk
    over its reps."""
    store, holders, connections = services.stores.subscriptions, services.stores.holders, services.stores.connections
    page, total = await connections.teams(offset, limit)
    teams = []
    for team_id in page:
        record = await holders.describe(team_id)
        candidates = set(await store.subscribers(team_id)) | ({record.holder} if record.holder else set())
        sets = {rep: await store.webhook_ids(team_id, rep) for rep in candidates}
        held = sets.get(record.holder or "", {})
        status = await connections.status(team_id, record.holder) if record.holder else None
        problems = []
        if record.holder is not None:
            if status is not ConnectionStatus.CONNECTED:
                problems.append(f"holder {status.value if status else 'not_connected'}")
            elif not has_scope(await connections.scopes(team_id, record.holder)):
                problems.append("holder lacks webhooks.all")
        missing = [resource for resource in SUBSCRIBED_RESOURCES if resource not in held]
        if record.holder is not None and missing:
            problems.append("set incomplete")
        others = {rep: len(ids) for rep, ids in sorted(sets.items()) if rep != record.holder and ids}
        if others:
            problems.append("subscriptions outside the holder's set")
        if record.problem:
            problems.append(f"last check: {record.problem}")
        health = "none" if record.holder is None and not others else ("degraded" if problems else "ok")
        teams.append(TeamWebhooks(
            team_id=team_id, health=health, problems=problems, holder=record.holder,
            holder_status=status.value if status else None, holder_since=record.since,
            subscribed=sorted(held), missing=missing if record.holder else [], other_sets=others,
            reps=await connections.team_size(team_id), checked_at=record.checked_at))
    return teams, total
