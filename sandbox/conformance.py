"""Does a request or a response keep to Outreach's contract? One set of checks, used three ways:
the sandbox refuses requests with them (`query.parse`, `documents`), tests validate every exchange with them
(`Audit`, tests/conftest.py), and the suite's recorded traffic is checked with them at the end of the run.

Query parameters follow the badges (`contract.py`): `filter[attr]` needs a filterable attribute (or `id`),
`filter[rel][attr]` an attribute the relationship's description names, `sort` a sortable attribute (or `id`),
`include` a path of relationships, `fields[type]` names of that type's attributes and relationships. Bodies:
known, writable attributes and relationships, values as the attribute's schema says. Documents are validated
against the spec's own schemas, closed (`additionalProperties: false` on attributes, relationships and each
relationship object): the spec does not close them, and an open schema would have let a served task carry a
`callPurpose`. Validation is `jsonschema-rs` (Draft 4) on the schemas translated from OpenAPI 3.0 once
(`nullable` → a `null` type, `$ref`s inlined): ~3 µs per record, where `openapi-schema-validator` took ~2 ms
for a prospect (its schema has 200+ properties) and ~350 ms for the dialer's 63-task page.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs
import orjson

from . import contract
from .schema import TYPES, ResourceType

MEDIA_TYPE = "application/vnd.api+json"
COLLECTION_PARAMS = frozenset({"include", "sort", "page[size]", "page[after]", "count"})
MEMBER_PARAMS = frozenset({"include"})
_FAMILY = re.compile(r"^(filter|fields|actionParams)\[([A-Za-z_0-9]+)\](?:\[([A-Za-z_0-9]+)\])?$")
# Outreach's error document (API-NOTES.md); the spec gives it only for 422, without `source`.
_ERROR_SCHEMA = {
    "type": "object", "required": ["errors"], "additionalProperties": False,
    "properties": {"errors": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["id", "title", "detail"], "additionalProperties": False,
        "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"},
                       "source": {"type": "object", "additionalProperties": False, "maxProperties": 1,
                                  "properties": {"pointer": {"type": "string"}, "parameter": {"type": "string"}}}},
    }}},
}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why Outreach would refuse a request, as the sandbox answers it."""

    status: int
    id: str
    title: str
    detail: str
    parameter: str | None = None
    pointer: str | None = None


def _bad(id_: str, title: str, detail: str, parameter: str) -> Problem:
    return Problem(400, id_, title, detail, parameter=parameter)


def _invalid(detail: str, pointer: str) -> Problem:
    return Problem(422, "validationError", "Validation Error", detail, pointer=pointer)


# --- query strings ----------------------------------------------------------------------------------------------

def query_problems(rt: ResourceType, params: Iterable[tuple[str, str]], *, collection: bool,
                   action_params: frozenset[str] = frozenset()) -> Iterator[Problem]:
    """`collection`: a GET of a collection (filters, sort, paging); else a member (include and fields only).
    `action_params`: the `actionParams[...]` names a member action declares."""
    allowed = COLLECTION_PARAMS if collection else MEMBER_PARAMS
    for name, value in params:
        m = _FAMILY.match(name)
        if name == "include" and name in allowed:
            yield from include_problems(rt.name, value)
        elif name == "sort" and name in allowed:
            yield from _sort_problems(rt, value)
        elif name in allowed:
            continue
        elif m and m.group(1) == "filter" and collection:
            yield from _filter_problems(rt, name, m.group(2), m.group(3))
        elif m and m.group(1) == "fields" and m.group(3) is None:
            yield from _fields_problems(m.group(2), value, name)
        elif m and m.group(1) == "actionParams" and m.group(3) is None and m.group(2) in action_params:
            continue
        elif name.startswith("filter["):
            yield _bad("filterError", "Filter Error", f"'{name}' is not a filter of '{rt.name}'.", name)
        else:
            yield _bad("invalidParameter", "Invalid Parameter", f"'{name}' is not a parameter of this request.",
                       name)


def _filter_problems(rt: ResourceType, param: str, name: str, sub: str | None) -> Iterator[Problem]:
    rel = rt.spec.relationships.get(name)
    if rel is not None:
        if sub is None or sub not in rel.filter_by:
            usable = ", ".join(sorted(rel.filter_by)) or "nothing"
            yield _bad("filterError", "Filter Error",
                       f"'{param}': relationship '{name}' of '{rt.name}' can be filtered by {usable}.", param)
    elif sub is not None or not rt.can_filter(name):
        yield _bad("filterError", "Filter Error", f"'{param}' is not a filterable attribute of '{rt.name}'.", param)


def _sort_problems(rt: ResourceType, value: str) -> Iterator[Problem]:
    for key in value.split(","):
        if not rt.can_sort(key.removeprefix("-")):
            yield _bad("invalidSort", "Invalid Sort", f"'{key}' is not a sortable attribute of '{rt.name}'.", "sort")


def _fields_problems(type_: str, value: str, param: str) -> Iterator[Problem]:
    spec = contract.types().get(type_)
    if spec is None:
        yield _bad("invalidFields", "Invalid Fields", f"'{type_}' is not a resource type.", param)
        return
    for field in value.split(","):
        if field and field not in spec.attributes and field not in spec.relationships:
            yield _bad("invalidFields", "Invalid Fields", f"'{field}' is not a field of '{type_}'.", param)


def include_problems(type_: str, value: str) -> Iterator[Problem]:
    specs = contract.types()
    for path in value.split(","):
        current = {type_}
        for name in path.split("."):
            rels = [specs[t].relationships[name] for t in current if t in specs and name in specs[t].relationships]
            if not rels:
                yield _bad("invalidInclude", "Invalid Include",
                           f"'{name}' is not a relationship of '{'/'.join(sorted(current))}'.", "include")
                break
            current = {t for r in rels for t in r.targets}


# --- request bodies -----------------------------------------------------------------------------------------------

def body_problems(rt: ResourceType, data: Any, *, values: bool = True) -> Iterator[Problem]:
    """The `data` of a POST/PATCH document: type, then each attribute and relationship (known, writable, shaped
    as the spec says; `values=False` checks names only)."""
    if not isinstance(data, dict):
        yield Problem(400, "invalidRequest", "Invalid Request", "The document must have a 'data' object.")
        return
    if data.get("type") != rt.name:
        yield _invalid(f"data.type must be '{rt.name}'.", "/data/type")
    attributes, relationships = data.get("attributes") or {}, data.get("relationships") or {}
    if not isinstance(attributes, dict):
        yield _invalid("attributes must be an object.", "/data/attributes")
        attributes = {}
    if not isinstance(relationships, dict):
        yield _invalid("relationships must be an object.", "/data/relationships")
        relationships = {}
    for name, value in attributes.items():
        pointer = f"/data/attributes/{name}"
        attr = rt.spec.attributes.get(name)
        if problem := _unwritable("attribute", name, attr, rt.name, pointer):
            yield problem
        elif values:
            for error in _attribute_validator(rt.name, name).iter_errors(value):
                yield _invalid(f"'{name}' does not meet the schema's '{error.schema_path[-1]}'.", pointer)
                break
    for name, value in relationships.items():
        pointer = f"/data/relationships/{name}"
        rel = rt.spec.relationships.get(name)
        if problem := _unwritable("relationship", name, rel, rt.name, pointer):
            yield problem
        elif rel is not None and not _linkage_ok(value, rel.targets, many=rel.many):
            kinds = "|".join(rel.targets)
            shape = f'[{{"type": "{kinds}", "id": <id>}}]' if rel.many else f'{{"type": "{kinds}", "id": <id>}}'
            yield _invalid(f"'{name}' must be {{\"data\": {shape}}}.", pointer)


def _unwritable(kind: str, name: str, found: contract.Attribute | contract.Relationship | None, type_: str,
                pointer: str) -> Problem | None:
    if found is None:
        return _invalid(f"'{name}' is not a valid {kind} of '{type_}'.", pointer)
    return _invalid(f"'{name}' is read-only.", pointer) if found.readonly else None


def _linkage_ok(value: Any, targets: tuple[str, ...], *, many: bool) -> bool:
    if not isinstance(value, dict) or "data" not in value:
        return False
    data = value["data"]
    items = data if many and isinstance(data, list) else [data]
    if data is None and not many:
        return True
    return all(isinstance(i, dict) and i.get("type") in targets and _is_id(i.get("id")) for i in items)


def _is_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


@cache
def _attribute_validator(type_: str, attr: str) -> jsonschema_rs.Draft4Validator:
    return _compile(contract.types()[type_].attributes[attr].schema)


# --- whole requests (the traffic check) --------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    template: str  # the spec's path, e.g. /tasks/{id}/actions/markComplete
    type_: ResourceType
    member: bool
    action_params: frozenset[str]
    methods: frozenset[str]


@cache
def _routes() -> dict[str, list[tuple[re.Pattern[str], Route]]]:
    """The spec's paths by their first segment (the collection), so a lookup tries only that type's few paths."""
    out: dict[str, list[tuple[re.Pattern[str], Route]]] = {}
    for template, item in contract.document()["paths"].items():
        plural = template.split("/")[1]
        rt = next((t for t in TYPES.values() if t.plural == plural), None)
        if rt is None:
            continue
        names: set[str] = set()
        for op in item.values():
            for p in op.get("parameters", []) if isinstance(op, dict) else []:
                if p.get("in") == "query" and p.get("style") == "deepObject":
                    names |= set(p.get("schema", {}).get("properties", {}))
        pattern = re.compile("^" + re.sub(r"\\\{id\\\}", r"\\d+", re.escape(template)) + "$")
        out.setdefault(plural, []).append((pattern, Route(template, rt, "{id}" in template, frozenset(names),
                                                          frozenset(m.upper() for m in item))))
    return out


def route(path: str) -> Route | None:
    """The spec's route for an API path (`/tasks/12`, without the `/api/v2` prefix)."""
    candidates = _routes().get(path.split("/", 2)[1] if path.count("/") else "", [])
    return next((r for pattern, r in candidates if pattern.match(path)), None)


def request_problems(method: str, path: str, params: list[tuple[str, str]], body: Any) -> list[Problem]:
    """Would Outreach refuse this request, by its contract? `body`: the decoded document or None; only the names in
    it are checked (values are checked per test, with the whole body)."""
    found = route(path)
    if found is None or method not in found.methods:
        return [Problem(404, "resourceNotFound", "Not Found", f"{method} {path} is not in Outreach's API.")]
    problems = list(query_problems(found.type_, params, collection=method == "GET" and not found.member,
                                   action_params=found.action_params if "/actions/" in found.template
                                   else frozenset()))
    if method in ("POST", "PATCH") and "/actions/" not in found.template:
        data = body.get("data") if isinstance(body, dict) else None
        problems += body_problems(found.type_, data, values=False)
    return problems


# --- documents -----------------------------------------------------------------------------------------------------

@cache
def _closed_components() -> dict[str, Any]:
    components: dict[str, Any] = copy.deepcopy(contract.document()["components"])
    schemas = components["schemas"]
    for name in contract.types():
        if isinstance(schemas.get(name), dict) and "properties" in schemas[name]:
            schemas[name]["additionalProperties"] = False
        rels = schemas.get(f"{name}Relationships")
        if isinstance(rels, dict):
            rels["additionalProperties"] = False
            for rel in rels.get("properties", {}).values():
                rel["additionalProperties"] = False
        response = schemas.get(f"{name}Response")
        if isinstance(response, dict):
            response["properties"]["type"] = {"type": "string", "enum": [name]}
            response["required"] = ["type", "id"]
    return components


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema (Draft 4): `nullable` becomes a `null` type (and a `None` in an
    `enum`), `$ref`s to components are inlined (from the closed copy), `x-` extensions dropped."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(_closed_components()["schemas"][str(node["$ref"]).rsplit("/", 1)[-1]])
    out = {k: json_schema(v) for k, v in node.items() if k != "nullable" and not k.startswith("x-")}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list):
            out["enum"] = [*out["enum"], None]
    return out


def _compile(schema: Any) -> jsonschema_rs.Draft4Validator:
    return jsonschema_rs.Draft4Validator(json_schema(schema), validate_formats=True)


@cache
def _validator(pointer: str) -> jsonschema_rs.Draft4Validator:
    """A validator for the schema at `pointer` (`#/paths/...` or `#/components/...`) in the spec."""
    node: Any = {"paths": contract.document()["paths"], "components": _closed_components()}
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return _compile(node)


@cache
def _error_validator() -> jsonschema_rs.Draft4Validator:
    return jsonschema_rs.Draft4Validator(_ERROR_SCHEMA)


def _pointer_escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _messages(validator: jsonschema_rs.Draft4Validator, instance: Any, where: str = "") -> list[str]:
    return [f"{where}{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(instance)]


def document_problems(method: str, path: str, status: int, body: Any, *, request: bool = False) -> list[str]:
    """What in a JSON:API document (a request body when `request`, else a response) the spec does not allow."""
    if not request and status >= 400:
        return _messages(_error_validator(), body)
    found = route(path)
    if found is None:
        return [f"{method} {path} is not in Outreach's API"]
    op = ["paths", _pointer_escape(found.template), method.lower()]
    media = _pointer_escape(MEDIA_TYPE)
    item = contract.document()["paths"][found.template].get(method.lower(), {})
    if request:
        if "requestBody" not in item:
            return [] if body is None else [f"{method} {found.template} takes no body"]
        pointer = "/".join(["#", *op, "requestBody", "content", media, "schema"])
    else:
        if str(status) not in item.get("responses", {}):
            return [f"{method} {found.template} answers no {status} in the spec"]
        pointer = "/".join(["#", *op, "responses", str(status), "content", media, "schema"])
    problems = _messages(_validator(pointer), body)
    schemas = contract.document()["components"]["schemas"]
    for i, resource in enumerate(body.get("included") or [] if isinstance(body, dict) else []):
        kind = resource.get("type") if isinstance(resource, dict) else None
        if not isinstance(kind, str) or f"{kind}Response" not in schemas:
            problems.append(f"included/{i}: no resource type {kind!r} in the spec")
            continue
        problems += _messages(_validator(f"#/components/schemas/{kind}Response"), resource, f"included/{i}/")
    return problems


def decode(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return raw
