"""The operators' audit log: who did what, when, to how many. A capped Redis stream, newest read first."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from schemas.ops import AuditEntry
from store import keys

log = logging.getLogger("ops.audit")

MAX_ENTRIES = 100_000  # about a year of a busy team's actions; trimmed approximately (cheap)


class AuditLog:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def record(self, who: str, action: str, target: str, count: int, outcome: str = "done") -> None:
        await self._redis.xadd(keys.AUDIT, {"who": who, "action": action, "target": target, "count": str(count),
                                            "outcome": outcome}, maxlen=MAX_ENTRIES, approximate=True)
        log.info("operator=%s action=%s target=%s count=%d outcome=%s", who, action, target, count, outcome)

    async def page(self, before: str | None = None, limit: int = 50) -> list[AuditEntry]:
        """Newest first; `before`: the id of the last entry of the previous page."""
        top = f"({before}" if before else "+"
        entries = await self._redis.xrevrange(keys.AUDIT, max=top, min="-", count=limit)
        return [_entry(entry_id.decode(), fields) for entry_id, fields in entries]


def _entry(entry_id: str, fields: dict[bytes, bytes]) -> AuditEntry:
    return AuditEntry(id=entry_id, at=int(entry_id.split("-")[0]) / 1000, who=fields[b"who"].decode(),
                      action=fields[b"action"].decode(), target=fields[b"target"].decode(),
                      count=int(fields[b"count"]), outcome=fields.get(b"outcome", b"done").decode())
