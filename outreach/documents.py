"""Reading Outreach's JSON:API answers into `schemas.outreach` shapes, in one place.

pydantic's `ValidationError` text quotes the input it refused, and an Outreach answer holds record values
(names, numbers, notes). Every Outreach document is parsed here, and a refusal becomes an `OutreachUnavailable`
naming only the shape and the JSON pointers that did not fit, so no caller can let record data reach a log line,
a job result or an error message.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from outreach.errors import OutreachUnavailable

Model = TypeVar("Model", bound=BaseModel)
MAX_POINTERS = 3


class UnreadableAnswer(OutreachUnavailable):
    """Outreach answered 2xx with a document this service cannot read (worth retrying: it is Outreach's)."""


def parse(model: type[Model], document: Any) -> Model:
    try:
        return model.model_validate(document)
    except ValidationError as refused:
        raise UnreadableAnswer(f"Outreach answered a {model.__name__} document this service cannot read "
                               f"(at {_pointers(refused)})") from None


def _pointers(refused: ValidationError) -> str:
    """JSON pointers of the first few misfits: keys and indexes only, never the values."""
    pointers = []
    for item in refused.errors(include_url=False, include_input=False, include_context=False)[:MAX_POINTERS]:
        parts = [str(part) for part in item["loc"] if isinstance(part, int) or str(part).isidentifier()]
        pointers.append("/" + "/".join(parts))
    return ", ".join(pointers) or "/"
