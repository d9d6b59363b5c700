"""What /ops handlers read from a request: the process's Services, a page offset, a dead-letter filter."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request

from ingress.errors import ApiError
from runtime.services import Services
from schemas.ops import DeadLetterFilter

FILTER_FIELDS = ("reason", "team_id", "rep_email")


def services(request: Request) -> Services:
    found: Services = request.state.services
    return found


def offset(request: Request, name: str = "offset") -> int:
    raw = request.query_params.get(name, "0")
    # "²".isdigit() (int refuses it), and int refuses more than 4,300 digits
    return min(int(raw), 10**9) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0


def dead_letter_filter(request: Request) -> DeadLetterFilter:
    """The filter in the query string (empty fields ignored); a malformed one is a 422."""
    try:
        return DeadLetterFilter.model_validate({name: request.query_params[name] or None for name in FILTER_FIELDS
                                                if name in request.query_params})
    except ValidationError:
        raise ApiError(422, "invalid_filter", "reason, team_id and rep_email are short strings") from None
