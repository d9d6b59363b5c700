"""Reading and validating JSON:API request documents."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

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


def check_type(rt: ResourceType, data: dict[str, Any]) -> None:
    if data.get("type") != rt.name:
        raise validation(f"data.type must be '{rt.name}'.", "/data/type")


def attributes(rt: ResourceType, data: dict[str, Any]) -> dict[str, Any]:
    attrs = data.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise validation("attributes must be an object.", "/data/attributes")
    for name in attrs:
        if name not in rt.attributes:
            raise validation(f"'{name}' is not a valid attribute of '{rt.name}'.", f"/data/attributes/{name}")
        if name in rt.read_only:
            raise validation(f"'{name}' is read-only.", f"/data/attributes/{name}")
    return dict(attrs)


def relationships(store: Store, rt: ResourceType, data: dict[str, Any]) -> dict[str, int | None]:
    """To-one linkage `{"name": {"data": {"type", "id"}}}`; each must name an existing record of its type."""
    raw = data.get("relationships") or {}
    if not isinstance(raw, dict):
        raise validation("relationships must be an object.", "/data/relationships")
    out: dict[str, int | None] = {}
    for name, value in raw.items():
        pointer = f"/data/relationships/{name}"
        target = rt.to_one.get(name)
        if target is None:
            raise validation(f"'{name}' is not a valid relationship of '{rt.name}'.", pointer)
        linkage = value.get("data", ...) if isinstance(value, dict) else ...
        if linkage is None:
            out[name] = None
            continue
        if not isinstance(linkage, dict) or linkage.get("type") != target:
            raise validation(f'\'{name}\' must be {{"data": {{"type": "{target}", "id": <id>}}}}.', pointer)
        id_ = _int(linkage.get("id"))
        if id_ is None or store.get(target, id_) is None:
            raise validation(f"{target} {linkage.get('id')!r} does not exist.", pointer)
        out[name] = id_
    return out


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
