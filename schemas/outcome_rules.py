"""A team's call-outcome rules: an Outreach disposition id → the `after_call` a call with it gets."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.after_call import AfterCall, OutreachId, rule_problems

MAX_RULES = 500


class OutcomeRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    disposition_id: OutreachId
    after_call: AfterCall


class OutcomeRules(BaseModel):
    """What `PUT /v1/teams/{team_id}/call-outcome-rules` takes and `GET` answers; stored as sent (ids only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: Annotated[list[OutcomeRule], Field(max_length=MAX_RULES)]

    @staticmethod
    def problems(raw: object) -> list[tuple[str, str]]:
        """(`rules.<i>.<field>`, problem) for what the shapes allow but a rule may not say, in each rule whose shape
        is right (so that a PUT is told every bad field at once, shapes and rules alike)."""
        items = raw.get("rules") if isinstance(raw, dict) else None
        out: list[tuple[str, str]] = []
        seen: set[int] = set()
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                rule = OutcomeRule.model_validate(item)
            except ValidationError:
                continue
            if rule.disposition_id in seen:
                out.append((f"rules.{i}.disposition_id", "a disposition has at most one rule"))
            seen.add(rule.disposition_id)
            out += [(f"rules.{i}.after_call.{name}", problem) for name, problem in rule_problems(rule.after_call)]
        return out

    def for_disposition(self, disposition_id: int | None) -> AfterCall | None:
        return next((r.after_call for r in self.rules if r.disposition_id == disposition_id), None)

    def stored(self) -> str:
        """As JSON, with only the fields each rule set (a field left out is one the rule does not decide)."""
        return self.model_dump_json(exclude_unset=True)
