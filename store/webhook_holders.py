"""Which rep's token holds a team's one set of Outreach webhook subscriptions (docs/outreach-webhooks.md).

The holder changes only by compare-and-set: a process that decided on a new holder from a stale view (its team
lock expired while Outreach was slow, and another process went ahead) fails the swap and undoes its own work,
so a team never has two holders, whatever the number of web and worker processes.
Stored: the holder's email, when it became holder, when the set was last checked and a short problem code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from store import keys

# KEYS: team hash. ARGV: expected holder ('' = none), new holder ('' = none), now. 1 when swapped.
_SWAP = """
local current = redis.call('HGET', KEYS[1], 'holder') or ''
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
elseif ARGV[2] ~= current then
  redis.call('HSET', KEYS[1], 'holder', ARGV[2], 'since', ARGV[3])
end
return 1
"""


@dataclass(frozen=True)
class TeamHolder:
    team_id: str
    holder: str | None
    since: int | None
    checked_at: int | None
    problem: str | None


class HolderStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._swap = redis.register_script(_SWAP)

    async def holder(self, team_id: str) -> str | None:
        raw = await self._redis.hget(keys.webhook_team(team_id), "holder")
        return raw.decode() if raw else None

    async def swap(self, team_id: str, expected: str | None, new: str | None) -> bool:
        """Make `new` the holder (None: no holder) if the holder is still `expected`."""
        return bool(await self._swap(keys=[keys.webhook_team(team_id)],
                                     args=[expected or "", new or "", str(int(time.time()))]))

    async def checked(self, team_id: str, problem: str | None) -> None:
        """Record the outcome of a check of the team's set (only while it has a holder)."""
        key = keys.webhook_team(team_id)
        if not await self._redis.hexists(key, "holder"):
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "checked_at", str(int(time.time())))
            if problem:
                pipe.hset(key, "problem", problem)
            else:
                pipe.hdel(key, "problem")
            await pipe.execute()

    async def describe(self, team_id: str) -> TeamHolder:
        raw = {k.decode(): v.decode() for k, v in (await self._redis.hgetall(keys.webhook_team(team_id))).items()}
        return TeamHolder(team_id=team_id, holder=raw.get("holder") or None,
                          since=int(raw["since"]) if raw.get("since") else None,
                          checked_at=int(raw["checked_at"]) if raw.get("checked_at") else None,
                          problem=raw.get("problem") or None)
