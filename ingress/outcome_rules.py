"""`GET`/`PUT /v1/teams/{team_id}/call-outcome-rules`: the team's after_call per Outreach disposition.

A PUT replaces every rule at once, or, when any rule is bad, changes nothing and names each bad field.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ingress.errors import ApiError, fields, read_body
from ingress.guards import nooks_api
from ingress.responses import JSON
from runtime.services import Services
from schemas.outcome_rules import OutcomeRules

MAX_BODY_BYTES = 256 * 1024


@nooks_api
async def outcome_rules(request: Request, team_id: str, _: str) -> Response:
    services: Services = request.state.services
    if request.method == "PUT":
        body = await read_body(request, MAX_BODY_BYTES, what="rule bodies")
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_json", "body is not valid JSON") from None
        bad = [{"field": name, "problem": problem} for name, problem in OutcomeRules.problems(raw)]
        try:
            rules = OutcomeRules.model_validate(raw)
        except ValidationError as invalid:
            bad = fields(invalid) + bad
        if bad:
            raise ApiError(422, "invalid_rules", "the rules do not match the schema", fields=bad)
        await services.stores.outcome_rules.replace(team_id, rules)
    else:
        rules = await services.stores.outcome_rules.rules(team_id)
    return JSON(orjson.loads(rules.stored()))
