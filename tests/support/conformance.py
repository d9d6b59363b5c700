"""Outreach's contract, checked on everything the suite exchanges with the sandbox (tests/conftest.py).

After every test: each response the sandbox served, and each request the service sent (known by its
User-Agent), is checked against the OpenAPI document (`sandbox.conformance`); any violation fails that test.
For the whole run: the shape of every distinct request the service sent (method, path, query parameter names,
include/sort/fields values, body type, attribute and relationship names) is kept, and checked again when the
session ends, so a request Outreach would refuse fails CI even where no test looks at its answer.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from outreach.client import USER_AGENT
from sandbox import conformance
from sandbox.audit import Exchange
from sandbox.core import Sandbox

AUDITED: list[Sandbox] = []  # the sandboxes the session started with `audit=True`
SHAPE_VALUES = ("include", "sort")  # query values that name schema, not data (like every `fields[...]`)
_ID = re.compile(r"/\d+(?=/|$)")

Linkage = tuple[str, tuple[str, ...], bool]  # name, the types its data names ("" for null), whether a list
BodyShape = tuple[str, tuple[str, ...], tuple[Linkage, ...]] | None
Signature = tuple[str, str, tuple[tuple[str, str], ...], BodyShape]
TRAFFIC: set[Signature] = set()


def watch(sandbox: Sandbox) -> None:
    if sandbox.audit is None:
        raise ValueError("start the sandbox with audit=True")
    AUDITED.append(sandbox)


def check_exchanges() -> list[str]:
    """Problems in what the audited sandboxes recorded since the last call; the service's requests join TRAFFIC."""
    problems: list[str] = []
    for sandbox in AUDITED:
        assert sandbox.audit is not None
        for exchange in sandbox.audit.take():
            from_service = exchange.user_agent == USER_AGENT
            problems += exchange.problems(from_service=from_service)
            if from_service:
                TRAFFIC.add(signature(exchange))
    return problems


def signature(exchange: Exchange) -> Signature:
    params = tuple(sorted((k, v if k in SHAPE_VALUES or k.startswith("fields[") else "")
                          for k, v in exchange.query))
    return exchange.method, _ID.sub("/0", exchange.path), params, body_shape(conformance.decode(exchange.request_body))


def body_shape(document: Any) -> BodyShape:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        return None
    attributes = data.get("attributes") if isinstance(data.get("attributes"), dict) else {}
    relationships = data.get("relationships") if isinstance(data.get("relationships"), dict) else {}
    links: list[Linkage] = []
    for name, value in relationships.items():
        linkage = value.get("data") if isinstance(value, dict) else None
        items = linkage if isinstance(linkage, list) else [linkage]
        links.append((name, tuple(str(i.get("type")) if isinstance(i, dict) else "" for i in items),
                      isinstance(linkage, list)))
    return str(data.get("type")), tuple(sorted(attributes)), tuple(sorted(links))


def rebuild(shape: BodyShape) -> dict[str, Any] | None:
    """A document with the recorded shape (names and linkage types; values are not kept)."""
    if shape is None:
        return None
    type_, attributes, links = shape
    relationships: dict[str, Any] = {}
    for name, types, many in links:
        data = [{"type": t, "id": 0} if t else None for t in types]
        relationships[name] = {"data": data if many else data[0]}
    return {"data": {"type": type_, "attributes": dict.fromkeys(attributes),
                     "relationships": relationships}}


def export_traffic() -> list[str]:
    """TRAFFIC as plain strings, for an xdist worker to hand to the controller (which reports on the whole run)."""
    return sorted(repr(signature) for signature in TRAFFIC)


def import_traffic(exported: list[str]) -> None:
    TRAFFIC.update(ast.literal_eval(signature) for signature in exported)


def traffic_problems() -> list[str]:
    """Each distinct request shape the service sent this run that Outreach's contract refuses."""
    problems = []
    for method, path, params, body in sorted(TRAFFIC, key=repr):
        for problem in conformance.request_problems(method, path, list(params), rebuild(body)):
            query = "&".join(f"{k}={v}" if v else k for k, v in params)
            problems.append(f"{method} {path}?{query}: {problem.status} {problem.id}: {problem.detail}")
    return problems
