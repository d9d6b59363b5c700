"""Collection queries: `filter[...]`, `sort`, `page[size]` / `page[after]` cursors, `include`, `fields`."""

from __future__ import annotations

import base64
import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from . import conformance, timeutil
from .jsonapi import ApiError, Fields, bad_request
from .schema import TYPES, ResourceType
from .state import Record, Store

DEFAULT_PAGE, MAX_PAGE = 50, 1000
_FILTER = re.compile(r"^filter\[([A-Za-z_]+)\](?:\[([A-Za-z_]+)\])?$")
_FIELDS = re.compile(r"^fields\[([A-Za-z_]+)\]$")
Predicate = Callable[[Record], bool]


@dataclass
class Query:
    predicates: list[Predicate] = field(default_factory=list)
    narrowing: list[set[int]] = field(default_factory=list)  # index hits; a match must be in every one
    sort: str = "id"
    descending: bool = False
    size: int = DEFAULT_PAGE
    after: tuple[Any, ...] | None = None
    include: list[list[str]] = field(default_factory=list)
    fields: Fields = field(default_factory=dict)


def parse(store: Store, rt: ResourceType, params: list[tuple[str, str]], *, collection: bool = True) -> Query:
    """Refuse, as Outreach would, anything its contract does not allow (`conformance.query_problems`), then
    build the query."""
    for problem in conformance.query_problems(rt, params, collection=collection):
        raise ApiError(problem.status, problem.id, problem.title, problem.detail, parameter=problem.parameter)
    q = Query()
    for key, value in params:
        if m := _FILTER.match(key):
            _add_filter(store, rt, q, m.group(1), m.group(2), value)
        elif m := _FIELDS.match(key):
            q.fields[m.group(1)] = {f for f in value.split(",") if f}
        elif key == "sort":
            if "," in value:  # a sandbox limit, not Outreach's: one sort key
                raise bad_request("invalidSort", "The sandbox sorts by one attribute only.", "sort")
            q.descending = value.startswith("-")
            q.sort = value.lstrip("-")
        elif key == "include":
            q.include = [p.split(".") for p in value.split(",") if p]
        elif key == "page[size]":
            q.size = _int(value, "page[size]")
            if not 1 <= q.size <= MAX_PAGE:
                raise bad_request("invalidPageSize", f"page[size] must be between 1 and {MAX_PAGE}.", key)
        elif key == "page[after]":
            q.after = _decode_cursor(value)
    return q


def run(store: Store, rt: ResourceType, q: Query) -> tuple[list[Record], bool]:
    """One page of matching records, and whether more follow."""
    pool = store.all(rt.name)
    if q.narrowing:
        smallest, *others = sorted(q.narrowing, key=len)
        ids = [i for i in smallest if all(i in s for s in others)]
        records: Iterable[Record] = [pool[i] for i in ids if i in pool]
    else:
        records = pool.values()
    hits = [r for r in records if all(p(r) for p in q.predicates)]
    keyed = sorted(((sort_key(r, q.sort), r) for r in hits), key=lambda kr: kr[0], reverse=q.descending)
    start = 0
    if q.after is not None:
        keys = [k for k, _ in keyed]
        if q.descending:
            # keys are descending: find the first key strictly below the cursor
            start = len(keys) - bisect.bisect_left(list(reversed(keys)), q.after)
        else:
            start = bisect.bisect_right(keys, q.after)
    page = [r for _, r in keyed[start : start + q.size]]
    return page, start + q.size < len(keyed)


def sort_key(record: Record, attr: str) -> tuple[Any, ...]:
    value = record.id if attr == "id" else record.attributes.get(attr)
    if isinstance(value, list | dict):
        value = orjson.dumps(value).decode()
    return (0, "", record.id) if value is None else (1, value, record.id)


def page_link(url: str, params: list[tuple[str, str]], last: Record | None, attr: str) -> str:
    """The same query (filters, sort, include...) resumed after `last`, or from the start when None."""
    kept = [(k, v) for k, v in params if k != "page[after]"]
    if last is not None:
        cursor = base64.urlsafe_b64encode(orjson.dumps(sort_key(last, attr))).decode().rstrip("=")
        kept.append(("page[after]", cursor))
    return f"{url}?{urlencode(kept)}" if kept else url


def _decode_cursor(value: str) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        decoded = orjson.loads(raw)
        if isinstance(decoded, list) and len(decoded) == 3:
            return tuple(decoded)
    except (ValueError, orjson.JSONDecodeError):
        pass
    raise bad_request("invalidCursor", "page[after] is not a cursor this API issued.", "page[after]")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise bad_request("invalidParameter", f"{name} must be an integer.", name) from None


def _add_filter(store: Store, rt: ResourceType, q: Query, name: str, sub: str | None, value: str) -> None:
    param = f"filter[{name}]" + (f"[{sub}]" if sub else "")
    if sub is not None:
        ids = _related_matches(store, rt, name, sub, value, param)
        q.predicates.append(lambda r: r.id in ids)
        q.narrowing.append(ids)
        return
    convert = _converter(rt, name, param)
    get: Callable[[Record], Any] = (lambda r: r.id) if name == "id" else (lambda r: r.attributes.get(name))
    if ".." in value:
        lo_s, hi_s = value.split("..", 1)
        lo = None if lo_s in ("", "neginf") else convert(lo_s)
        hi = None if hi_s in ("", "inf") else convert(hi_s)

        def in_range(v: Any) -> bool:
            return (lo is None or v >= lo) and (hi is None or v <= hi)

        q.predicates.append(lambda r: _any(get(r), convert, in_range))
        return
    wanted = {convert(v) for v in value.split(",")}
    q.predicates.append(lambda r: _any(get(r), convert, lambda v: v in wanted))
    indexed = [store.ids_by_attr(rt.name, name, v) for v in value.split(",")]
    if all(s is not None for s in indexed):
        q.narrowing.append(_union([s for s in indexed if s is not None]))


def _related_matches(store: Store, rt: ResourceType, rel: str, attr: str, value: str, param: str) -> set[int]:
    """Ids of `rt` records whose relationship `rel` holds a record matching `filter[rel][attr]=value`."""
    target_name = rt.to_one_target(rel) or rt.to_many.get(rel, ("", ""))[0]
    target = TYPES.get(target_name)
    if target is None:
        return set()  # a relationship the sandbox does not store: nothing is related through it
    if attr == "id":
        targets = {_int(v, param) for v in value.split(",") if v}
    else:
        probe = Query()
        _add_filter(store, target, probe, attr, None, value)
        targets = {r.id for r in store.all(target.name).values() if all(p(r) for p in probe.predicates)}
    if rel in rt.to_many:
        inverse = rt.to_many[rel][1]
        found = (store.get(target.name, t) for t in targets)
        return {i for r in found if r is not None and (i := r.rels.get(inverse)) is not None}
    return _union([store.ids_by_rel(rt.name, rel, t) for t in targets]) if targets else set()


def _union(sets: list[set[int]]) -> set[int]:
    """Index sets are shared with the store: never mutate them, and copy only when merging several."""
    return sets[0] if len(sets) == 1 else set().union(*sets)


def _any(value: Any, convert: Callable[[Any], Any], test: Callable[[Any], bool]) -> bool:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is None:
            continue
        try:
            if test(convert(v)):
                return True
        except (TypeError, ValueError, ApiError):
            continue
    return False


def _converter(rt: ResourceType, name: str, param: str) -> Callable[[Any], Any]:
    """How filter text and record values compare: timestamps as datetimes, numbers as numbers (by the spec's
    attribute types)."""
    if rt.is_timestamp(name):

        def as_time(v: Any) -> datetime:
            if isinstance(v, datetime):
                return v
            try:
                return timeutil.parse(str(v))
            except ValueError:
                raise bad_request("filterError", f"'{v}' is not a timestamp.", param) from None

        return as_time
    kind = rt.json_type(name)
    if kind == "boolean":
        return lambda v: v if isinstance(v, bool) else str(v).lower() == "true"
    if kind in ("integer", "number"):

        def as_number(v: Any) -> float:
            try:
                return float(v)
            except ValueError:
                raise bad_request("filterError", f"'{v}' is not a number.", param) from None

        return as_number
    return str
