"""Reading and validating JSON:API request documents."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from . import conformance
from .jsonapi import MEDIA_TYPE, ApiError, validation
from .schema import ResourceType
from .state import Store


async def read(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The `data` member of the body. 415 for another media type, 400 for malformed JSON."""
    body = await request.body()
    if not body:
        if required:
            raise ApiError(400, "invalidRequest", "Invalid Request", "A request body is required.")
        return {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        raise ApiError(
            415,
            "unsupportedMediaType",
            "Unsupported Media Type",
            f"Content-Type must be '{MEDIA_TYPE}', not '{media or 'none'}'.",
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalidJson", "Invalid JSON", "The request body is not valid JSON.") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise ApiError(400, "invalidRequest", "Invalid Request", "The document must have a 'data' object.")
    return data


def check(rt: ResourceType, data: dict[str, Any]) -> None:
    """Refuse what Outreach's contract refuses (`conformance.body_problems`): 422 with `source.pointer`."""
    for problem in conformance.body_problems(rt, data):
        raise ApiError(problem.status, problem.id, problem.title, problem.detail, pointer=problem.pointer)


def attributes(data: dict[str, Any]) -> dict[str, Any]:
    return dict(data.get("attributes") or {})


def relationships(store: Store, rt: ResourceType, data: dict[str, Any]) -> dict[str, int | None]:
    """To-one linkage (checked by `check`); each must name an existing record. The sandbox stores no to-many
    linkage and no relationship that may point at several types: those are refused, not silently dropped."""
    out: dict[str, int | None] = {}
    for name, value in (data.get("relationships") or {}).items():
        pointer = f"/data/relationships/{name}"
        target = rt.to_one_target(name)
        if target is None:
            raise validation(f"The sandbox does not store '{name}' of '{rt.name}'.", pointer)
        linkage = value["data"]
        if linkage is None:
            out[name] = None
            continue
        id_ = int(linkage["id"])
        if store.get(target, id_) is None:
            raise validation(f"{target} {linkage['id']!r} does not exist.", pointer)
        out[name] = id_
    return out
