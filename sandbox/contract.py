"""Outreach's published contract, read from its OpenAPI document (`spec/outreach-openapi.json`).

Everything the sandbox knows about a resource type comes from here: its attributes with their JSON schema and
badges (`readonly.svg`, `filterable.svg`, `sortable.svg` in the description), its relationships from
`components.schemas.<type>Relationships` (to-one or to-many, target types, read-only, and what the description
says about filtering: "You can use only the attribute id to filter ..." / "You can use attributes id, email and
firstName to filter ..." / "... cannot be used as a filter"), and the collection path of each type. Derived once
per process (about 30 ms) and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

SPEC_PATH = Path(__file__).parent / "spec" / "outreach-openapi.json"
_BADGE = re.compile(r"badges/(readonly|filterable|sortable)\.svg")
_FILTER_ONLY_ID = re.compile(r"You can use only the attribute id to filter")
_FILTER_ATTRS = re.compile(r"You can use attributes (.+?) to filter")
_FILTER_ANY = re.compile(r"You can use any filterable attribute of")
_REF_TYPE = re.compile(r"^#/components/schemas/(\w+)Response$")


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    schema: dict[str, Any]  # the property's OpenAPI schema (type, format, maxLength, nullable...)
    readonly: bool
    filterable: bool
    sortable: bool

    @property
    def json_type(self) -> str | None:
        kind = self.schema.get("type")
        return kind if isinstance(kind, str) else None

    @property
    def is_timestamp(self) -> bool:
        return self.schema.get("format") == "date-time"


@dataclass(frozen=True, slots=True)
class Relationship:
    name: str
    targets: tuple[str, ...]  # the types `data` may name; empty when the spec gives only `links`
    many: bool
    linkage: bool  # the spec's relationship object has `data` (else Outreach serves only `links.related`)
    readonly: bool
    filter_by: frozenset[str]  # attributes usable in `filter[<name>][<attribute>]`; empty: not filterable

    @property
    def target(self) -> str | None:
        """The one target type, or None for a polymorphic (or links-only) relationship."""
        return self.targets[0] if len(self.targets) == 1 else None


@dataclass(frozen=True, slots=True)
class TypeSpec:
    name: str
    plural: str | None  # the collection path (`/tasks`), None for types the API only relates to
    attributes: dict[str, Attribute]
    relationships: dict[str, Relationship]


@cache
def document() -> dict[str, Any]:
    spec: dict[str, Any] = orjson.loads(SPEC_PATH.read_bytes())
    return spec


@cache
def types() -> dict[str, TypeSpec]:
    """Every resource type the document describes (by attributes or relationships)."""
    schemas: dict[str, Any] = document()["components"]["schemas"]
    plurals = _plurals(document()["paths"])
    names = {n for n in schemas if not n.endswith(("Relationships", "Response"))}
    names |= {n[: -len("Relationships")] for n in schemas if n.endswith("Relationships")}
    out: dict[str, TypeSpec] = {}
    for name in sorted(names):
        attrs = schemas.get(name, {}).get("properties", {})
        rels = schemas.get(f"{name}Relationships", {}).get("properties", {})
        out[name] = TypeSpec(
            name=name,
            plural=plurals.get(name),
            attributes={a: _attribute(a, s) for a, s in attrs.items()},
            relationships={r: _relationship(r, s, names, plurals, schemas) for r, s in rels.items()},
        )
    return out


@cache
def by_plural() -> dict[str, TypeSpec]:
    return {t.plural: t for t in types().values() if t.plural}


def _badges(schema: dict[str, Any]) -> set[str]:
    return set(_BADGE.findall(str(schema.get("description") or "")))


def _attribute(name: str, schema: dict[str, Any]) -> Attribute:
    badges = _badges(schema)
    return Attribute(name, schema, "readonly" in badges, "filterable" in badges, "sortable" in badges)


def _relationship(name: str, schema: dict[str, Any], names: set[str], plurals: dict[str, str],
                  schemas: dict[str, Any]) -> Relationship:
    description = str(schema.get("description") or "")
    data = schema.get("properties", {}).get("data")
    many = isinstance(data, dict) and data.get("type") == "array"
    linkage_schema = (data.get("items") if many else data) if isinstance(data, dict) else None
    targets: tuple[str, ...] = ()
    if isinstance(linkage_schema, dict):
        targets = tuple(linkage_schema.get("properties", {}).get("type", {}).get("enum") or ())
    if data is None:
        # Served as `links.related` only ("calls", "mailings"): a to-many one, its type named by the plural.
        many = True
        by_plural = {p: t for t, p in plurals.items()}
        target = by_plural.get(name) or (name[:-1] if name.endswith("s") and name[:-1] in names else None)
        targets = (target,) if target else ()
    filter_by: frozenset[str] = frozenset()
    if "cannot be used as a filter" not in description:
        if _FILTER_ONLY_ID.search(description):
            filter_by = frozenset({"id"})
        elif m := _FILTER_ATTRS.search(description):
            filter_by = frozenset(a.strip() for a in re.split(r",| and ", m.group(1)) if a.strip())
        elif _FILTER_ANY.search(description) and len(targets) == 1:
            target_attrs = schemas.get(targets[0], {}).get("properties", {})
            filter_by = frozenset({"id"} | {a for a, s in target_attrs.items() if "filterable" in _badges(s)})
    return Relationship(name, targets, many, data is not None, "readonly" in _badges(schema), filter_by)


def _plurals(paths: dict[str, Any]) -> dict[str, str]:
    """type -> collection path segment, from each `GET /<plural>` whose items are `<type>Response`."""
    out: dict[str, str] = {}
    for path, item in paths.items():
        if path.count("/") != 1 or "get" not in item:
            continue
        schema = item["get"]["responses"].get("200", {}).get("content", {}).get("application/vnd.api+json", {})
        ref = schema.get("schema", {}).get("properties", {}).get("data", {}).get("items", {}).get("$ref", "")
        if m := _REF_TYPE.match(ref):
            out[m.group(1)] = path[1:]
    return out
