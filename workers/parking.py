"""Release parked events once their rep can be served again (connected and mapped)."""

from __future__ import annotations

import logging
from typing import Any

from runtime.services import Services
from schemas.connection import ConnectionStatus

log = logging.getLogger("workers.parking")


async def rep_is_ready(services: Services, team_id: str, rep_email: str) -> bool:
    status = await services.stores.connections.status(team_id, rep_email)
    mapped = await services.stores.users.mapped_user_id(team_id, rep_email)
    paused = await services.stores.pauses.is_paused(team_id, rep_email)
    return status is ConnectionStatus.CONNECTED and mapped is not None and not paused


async def release_ready(ctx: dict[str, Any]) -> dict[str, int]:
    """Cron: the safety net behind the immediate release on connect and on mapping (within 30 s)."""
    services: Services = ctx["services"]
    released = 0
    for team_id, rep_email in await services.stores.parking.parked_reps():
        if await rep_is_ready(services, team_id, rep_email):
            released += await services.stores.parking.release(team_id, rep_email)
    if released:
        log.info("released %d parked events", released)
    return {"released": released}
