"""Bounded storage: dead letters, parked events (with the event bodies they keep) and flags are kept
`RETENTION_DAYS` (30 by default), then dropped and counted (`dead_letters_expired`, `parked_expired`,
`flags_expired` on /metrics). Nothing else stored grows without bound: dedupe keys and the call ledger have
TTLs, the ignored-events list is capped."""

from __future__ import annotations

import logging
import time
from typing import Any

from runtime.services import Services

log = logging.getLogger("workers.retention")

DAY_SECONDS = 86_400


async def expire_retained(ctx: dict[str, Any]) -> dict[str, int]:
    """Cron (hourly)."""
    services: Services = ctx["services"]
    before = time.time() - services.settings.retention_days * DAY_SECONDS
    dead, flags = await services.stores.dead_letters.expire(before)
    parked = await services.stores.parking.expire(before)
    for figure, amount in (("dead_letters_expired", dead), ("flags_expired", flags), ("parked_expired", parked)):
        if amount:
            services.ops.telemetry.count(figure, amount)
    if dead or flags or parked:
        log.info("retention dropped dead_letters=%d parked=%d flags=%d", dead, parked, flags)
    return {"dead_letters": dead, "parked": parked, "flags": flags}
