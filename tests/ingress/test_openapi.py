"""The published OpenAPI document: served without auth, equal to the checked-in docs/openapi.json, and naming
exactly the routes the app serves (a route added without documenting it, or documented and gone, fails here).

To refresh docs/openapi.json after changing an endpoint: `python -m ingress.openapi > docs/openapi.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from ingress.app import create_app
from ingress.openapi import document
from schemas.settings import Settings
from tests.support.service import Service

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch"}


def _served(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= _served(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            path = (prefix + route.path).rstrip("/") or "/"  # a mount's "/" is the mount itself (/ops)
            found |= {(path, method.lower()) for method in route.methods or () if method != "HEAD"}
    return found


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method in METHODS}


async def test_served_without_auth_and_equal_to_the_checked_in_copy(svc: Service) -> None:
    async with svc.http.get(f"{svc.base_url}/openapi.json") as response:
        assert response.status == 200 and response.content_type == "application/json"
        served = await response.json()
    assert served == json.loads(CHECKED_IN.read_text()), \
        "docs/openapi.json is stale: python -m ingress.openapi > docs/openapi.json"
    assert served["openapi"].startswith("3.1")


def test_every_route_is_documented_and_nothing_else(settings: Settings) -> None:
    app = create_app(settings)
    assert _served(list(app.routes)) == _documented(document())


def test_every_schema_is_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    doc = document()
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert "$defs" not in schema, name  # every nested model lives in components, referenced by $ref
    refs = {part.rsplit("/", 1)[1] for part in _refs(doc)}
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
