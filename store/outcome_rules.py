"""Each team's call-outcome rules (its own settings: disposition and sequence ids, durations, notes it wrote)."""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.outcome_rules import OutcomeRules
from store import keys


class OutcomeRuleStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def replace(self, team_id: str, rules: OutcomeRules) -> None:
        if rules.rules:
            await self._redis.set(keys.outcome_rules(team_id), rules.stored())
        else:
            await self._redis.delete(keys.outcome_rules(team_id))

    async def rules(self, team_id: str) -> OutcomeRules:
        raw = await self._redis.get(keys.outcome_rules(team_id))
        return OutcomeRules.model_validate_json(raw) if raw else OutcomeRules(rules=[])
