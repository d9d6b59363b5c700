"""JSON:API documents: errors, resource objects, `included[]` and sparse fieldsets."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from .schema import TYPES
from .state import Record, Store

MEDIA_TYPE = "application/vnd.api+json"
# Large to-many relationships (an account's prospects) carry only `links.related`, as Outreach does.
TO_MANY_LINKAGE_CAP = 100


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        id_: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.id, self.title, self.detail = status, id_, title, detail
        self.pointer, self.parameter, self.headers = pointer, parameter, headers or {}

    def response(self) -> Response:
        error: dict[str, Any] = {"id": self.id, "title": self.title, "detail": self.detail}
        if self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        elif self.parameter is not None:
            error["source"] = {"parameter": self.parameter}
        return JsonApiResponse({"errors": [error]}, self.status, headers=self.headers)


def not_found(type_: str, id_: object) -> ApiError:
    return ApiError(404, "resourceNotFound", "Resource Not Found", f"Could not find '{type_}' with ID '{id_}'.")


def validation(detail: str, pointer: str) -> ApiError:
    return ApiError(422, "validationError", "Validation Error", detail, pointer=pointer)


def bad_request(id_: str, detail: str, parameter: str | None = None) -> ApiError:
    titles = {"filterError": "Filter Error", "invalidSort": "Invalid Sort", "invalidInclude": "Invalid Include"}
    return ApiError(400, id_, titles.get(id_, "Bad Request"), detail, parameter=parameter)


class JsonApiResponse(Response):
    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


Fields = dict[str, set[str]]


def resource(store: Store, record: Record, base: str, fields: Fields | None = None) -> dict[str, Any]:
    """One JSON:API resource object. To-one relationships as `{"data": {"type", "id"}}`; to-many ones as
    `links.related`, plus `data` where the spec's relationship object has it (up to TO_MANY_LINKAGE_CAP)."""
    rt = TYPES[record.type]
    only = (fields or {}).get(record.type)
    attributes = {k: v for k, v in record.attributes.items() if only is None or k in only}
    if record.type == "webhook" and "secret" in attributes:
        attributes["secret"] = None  # Outreach never echoes the secret
    rels: dict[str, Any] = {}
    for name, id_ in record.rels.items():
        if only is None or name in only:
            rels[name] = {"data": None if id_ is None else {"type": rt.to_one[name] if name in rt.to_one
                                                             else rt.to_one_target(name), "id": id_}}
    for name, (target, inverse) in rt.to_many.items():
        if only is None or name in only:
            related = f"{base}/{TYPES[target].plural}?filter%5B{inverse}%5D%5Bid%5D={record.id}"
            rels[name] = {"links": {"related": related}}
            if rt.spec.relationships[name].linkage:
                ids = store.ids_by_rel(target, inverse, record.id)
                if len(ids) <= TO_MANY_LINKAGE_CAP:
                    rels[name]["data"] = [{"type": target, "id": i} for i in sorted(ids)]
    return {
        "type": record.type,
        "id": record.id,
        "attributes": attributes,
        "relationships": rels,
        "links": {"self": f"{base}/{rt.plural}/{record.id}"},
    }


def included(store: Store, primary: list[Record], paths: list[list[str]], base: str, fields: Fields) -> list[Any]:
    """Follow each dotted include path from the primary records; deduplicated, primaries excluded."""
    seen = {(r.type, r.id) for r in primary}
    out: list[Any] = []
    for path in paths:
        level = primary
        for name in path:
            nxt: list[Record] = []
            for record in level:
                for related in _follow(store, record, name):
                    nxt.append(related)
                    if (related.type, related.id) not in seen:
                        seen.add((related.type, related.id))
                        out.append(resource(store, related, base, fields))
            level = nxt
    return out


def _follow(store: Store, record: Record, name: str) -> list[Record]:
    """The records a relationship holds; none for one the sandbox does not store (the include is still valid)."""
    rt = TYPES[record.type]
    if name in record.rels:
        hit = store.get(rt.to_one_target(name) or "", record.rels[name])
        return [hit] if hit else []
    if name in rt.to_many:
        target = rt.to_many[name][0]
        return [r for i in store.related_ids(record.type, record.id, name) if (r := store.get(target, i))]
    return []
