"""The in-memory record store, with the indexes filters need and change notifications for webhooks."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import timeutil
from .schema import TYPES, ResourceType

# Equality indexes on attributes that hot lookups filter on (list attributes index every element).
ATTR_INDEXES = {("phoneNumber", "number"), ("user", "email"), ("prospect", "emails"), ("task", "state")}


@dataclass(slots=True)
class Record:
    type: str
    id: int
    attributes: dict[str, Any]
    rels: dict[str, int | None]


@dataclass(frozen=True, slots=True)
class Change:
    """One webhook-worthy event: `attributes`/`relationships` are what the delivery carries."""

    action: str
    type: str
    id: int
    attributes: dict[str, Any] = field(default_factory=dict)
    relationships: dict[str, int | None] = field(default_factory=dict)
    bare: bool = False  # events like task.completed carry only type and id


Listener = Callable[[Change], None]


class StoreError(ValueError):
    """A write that names a type, attribute or to-one relationship Outreach's contract does not have."""


class Store:
    def __init__(self) -> None:
        self.listeners: list[Listener] = []
        self.clear()

    def clear(self) -> None:
        self.records: dict[str, dict[int, Record]] = {name: {} for name in TYPES}
        self._next_id: dict[str, int] = dict.fromkeys(TYPES, 1)
        self._rel_index: dict[tuple[str, str], dict[int, set[int]]] = {}
        self._attr_index: dict[tuple[str, str], dict[Any, set[int]]] = {k: {} for k in ATTR_INDEXES}

    # -- reads -------------------------------------------------------------------------------------------
    def all(self, type_: str) -> dict[int, Record]:
        return self.records[type_]

    def get(self, type_: str, id_: int | None) -> Record | None:
        return None if id_ is None else self.records.get(type_, {}).get(id_)

    def ids_by_rel(self, type_: str, rel: str, target: int) -> set[int]:
        return self._rel_index.get((type_, rel), {}).get(target, set())

    def ids_by_attr(self, type_: str, attr: str, value: Any) -> set[int] | None:
        """Ids whose attribute equals (or, for lists, contains) value; None when not indexed."""
        index = self._attr_index.get((type_, attr))
        return None if index is None else index.get(value, set())

    def related_ids(self, type_: str, id_: int, rel: str) -> list[int]:
        """Ids of a to-many relationship, found through the inverse to-one index."""
        target, inverse = TYPES[type_].to_many[rel]
        return sorted(self.ids_by_rel(target, inverse, id_))

    # -- writes ------------------------------------------------------------------------------------------
    def create(
        self,
        type_: str,
        attributes: dict[str, Any] | None = None,
        rels: dict[str, int | None] | None = None,
        *,
        id_: int | None = None,
        emit: bool = True,
    ) -> Record:
        rt = _type(type_)
        attrs = copy.deepcopy(rt.defaults)
        _check_names(rt, attributes or {}, rels or {})
        attrs.update(copy.deepcopy(attributes or {}))
        stamp = timeutil.now_iso()
        if "createdAt" in attrs:
            attrs["createdAt"] = attrs["createdAt"] or stamp
        if "updatedAt" in attrs:
            attrs["updatedAt"] = attrs["updatedAt"] or attrs.get("createdAt") or stamp
        if id_ is None:
            id_ = self._next_id[type_]
        elif id_ in self.records[type_]:
            raise StoreError(f"{type_} {id_} already exists")
        self._next_id[type_] = max(self._next_id[type_], id_ + 1)
        record = Record(type_, id_, attrs, {**dict.fromkeys(rt.to_one), **(rels or {})})
        self.records[type_][id_] = record
        self._index(record, add=True)
        if emit:
            live: dict[str, int | None] = {k: v for k, v in record.rels.items() if v is not None}
            self.emit(Change("created", type_, id_, copy.deepcopy(attrs), live))
        return record

    def update(
        self,
        type_: str,
        id_: int,
        attributes: dict[str, Any] | None = None,
        rels: dict[str, int | None] | None = None,
        *,
        emit: bool = True,
    ) -> Change:
        rt = _type(type_)
        record = self.records[type_][id_]
        _check_names(rt, attributes or {}, rels or {})
        changed = {k: copy.deepcopy(v) for k, v in (attributes or {}).items()
                   if k not in record.attributes or record.attributes[k] != v}
        changed_rels = {k: v for k, v in (rels or {}).items() if k not in record.rels or record.rels[k] != v}
        if changed or changed_rels:
            self._index(record, add=False)
            if "updatedAt" not in changed and "updatedAt" in rt.spec.attributes:
                changed["updatedAt"] = timeutil.now_iso()
            record.attributes.update(changed)
            record.rels.update(changed_rels)
            self._index(record, add=True)
        change = Change("updated", type_, id_, copy.deepcopy(changed), changed_rels)
        if emit:
            self.emit(change)
        return change

    def delete(self, type_: str, id_: int, *, emit: bool = True) -> Record | None:
        record = self.records[_type(type_).name].pop(id_, None)
        if record is not None:
            self._index(record, add=False)
            if emit:
                live: dict[str, int | None] = {k: v for k, v in record.rels.items() if v is not None}
                self.emit(Change("destroyed", type_, id_, {}, live))
        return record

    def emit(self, change: Change) -> None:
        for listener in self.listeners:
            listener(change)

    # -- indexes -----------------------------------------------------------------------------------------
    def _index(self, record: Record, *, add: bool) -> None:
        for rel, target in record.rels.items():
            if target is not None:
                bucket = self._rel_index.setdefault((record.type, rel), {}).setdefault(target, set())
                _toggle(bucket, record.id, add)
        for type_, attr in ATTR_INDEXES:
            if type_ == record.type:
                index = self._attr_index[(type_, attr)]
                for value in _values(record.attributes.get(attr)):
                    _toggle(index.setdefault(value, set()), record.id, add)


def _type(name: str) -> ResourceType:
    rt = TYPES.get(name)
    if rt is None:
        raise StoreError(f"unknown type {name!r}")
    return rt


def _check_names(rt: ResourceType, attributes: dict[str, Any], rels: dict[str, int | None]) -> None:
    """Any attribute or single-type to-one relationship of the contract, read-only ones included: the sandbox
    itself fills those (a webhook's `creator`, a task's `completer`)."""
    unknown = [a for a in attributes if a not in rt.spec.attributes]
    unknown += [r for r in rels if rt.to_one_target(r) is None]
    if unknown:
        raise StoreError(f"{rt.name} has no attribute or relationship {', '.join(unknown)}")


def _values(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str | int)]
    return [value] if isinstance(value, str | int) else []


def _toggle(bucket: set[int], id_: int, add: bool) -> None:
    if add:
        bucket.add(id_)
    else:
        bucket.discard(id_)
