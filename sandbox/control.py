"""The /_sandbox control API: plain JSON, no auth. Tests and demos drive the double through it."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import core, seed, timeutil
from .core import ORG_ID, Sandbox
from .jsonapi import resource
from .schema import ResourceType, lookup
from .state import StoreError


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ControlError(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _rtype(request: Request) -> ResourceType:
    rt = lookup(request.path_params["type"])
    if rt is None:
        raise ControlError(404, f"unknown type {request.path_params['type']!r}")
    return rt


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}/api/v2"


def _rels(raw: Any) -> dict[str, int | None]:
    """`{"prospect": 3}`, or JSON:API linkage `{"prospect": {"data": {"type", "id"}}}`."""
    if not isinstance(raw, dict):
        raise ControlError(400, "relationships must be an object")
    out: dict[str, int | None] = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            value = (value.get("data") or {}).get("id")
        if value is not None and not isinstance(value, int):
            raise ControlError(400, f"relationship {name} must be an integer id or null")
        out[name] = value
    return out


def _org_id(sb: Sandbox, body: dict[str, Any]) -> str:
    """The org a control request names (`"org"`), "" for the default one."""
    org_id = body.get("org") or ""
    if not isinstance(org_id, str) or (org_id and org_id not in sb.orgs):
        raise ControlError(404, f"no org {org_id!r}")
    return "" if org_id == ORG_ID else org_id


def _user_id(sb: Sandbox, body: dict[str, Any]) -> int:
    if isinstance(body.get("user_id"), int):
        return int(body["user_id"])
    store = sb.org(_org_id(sb, body)).store
    ids = store.ids_by_attr("user", "email", body.get("email")) or set()
    if not ids:
        raise ControlError(404, f"no user with email {body.get('email')!r}")
    return min(ids)


async def reset(request: Request) -> Response:
    sb = core.of(request)
    sb.reset()
    await sb.drop_added_orgs()
    return JSONResponse({"ok": True})


async def orgs(request: Request) -> Response:
    """`{"users": [{"id", "email", "firstName", "lastName"}]}`: another org holding these users (ids chosen, so two
    orgs may share them); answers its id, which `/login` (and the token endpoint's grants) then carry."""
    sb, body = core.of(request), await _body(request)
    users = body.get("users") or []
    if not isinstance(users, list) or not all(isinstance(u, dict) and isinstance(u.get("id"), int) for u in users):
        raise ControlError(400, "users must be a list of objects with an integer id")
    org = await sb.add_org(str(uuid.uuid4()))
    try:
        for user in users:
            attributes = {k: v for k, v in user.items() if k != "id"}
            org.store.create("user", attributes, id_=int(user["id"]), emit=False)
    except StoreError as exc:
        raise ControlError(400, str(exc)) from None
    return JSONResponse({"org": org.id, "users": len(users)}, 201)


async def seed_org(request: Request) -> Response:
    sb, body = core.of(request), await _body(request)
    if sb.freeze_gc:
        gc.unfreeze()  # the previous seed's records may now be collected
    sb.store.clear()
    if body.get("demo", True):
        seed.seed_demo(sb.store)
    try:
        if body.get("reps"):
            seed.seed_bench(sb.store, int(body["reps"]), int(body.get("prospects_per_rep", 10)))
        if body.get("users"):
            seed.seed_users(sb.store, int(body["users"]))
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None
    if sb.freeze_gc:
        # A seeded org is tens of thousands of long-lived records; every full GC pass walked them all and stalled
        # every request in flight, adding to the latency a benchmark asked for (docs/tuning.md).
        gc.collect()
        gc.freeze()
    return JSONResponse({"ok": True, "records": {t: len(r) for t, r in sb.store.records.items()}})


async def records(request: Request) -> Response:
    sb, rt = core.of(request), _rtype(request)
    if request.method == "GET":
        data = [resource(sb.store, r, _base(request)) for r in sb.store.all(rt.name).values()]
        return JSONResponse({"data": data})
    body = await _body(request)
    id_ = body.get("id")
    try:
        record = sb.store.create(
            rt.name,
            body.get("attributes") or {},
            _rels(body.get("relationships") or {}),
            id_=int(id_) if id_ is not None else None,
        )
    except StoreError as exc:
        raise ControlError(400, str(exc)) from None
    return JSONResponse({"data": resource(sb.store, record, _base(request))}, 201)


async def record(request: Request) -> Response:
    sb, rt, id_ = core.of(request), _rtype(request), int(request.path_params["id"])
    found = sb.store.get(rt.name, id_)
    if found is None:
        raise ControlError(404, f"no {rt.name} {id_}")
    if request.method == "DELETE":
        sb.store.delete(rt.name, id_)
        return Response(status_code=204)
    if request.method == "PATCH":
        body = await _body(request)
        try:
            sb.store.update(rt.name, id_, body.get("attributes") or {}, _rels(body.get("relationships") or {}))
        except (StoreError, KeyError) as exc:
            raise ControlError(400, str(exc)) from None
    return JSONResponse({"data": resource(sb.store, found, _base(request))})


async def faults(request: Request) -> Response:
    sb = core.of(request)
    if request.method == "POST":
        try:
            sb.knobs.update(await _body(request))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
    return JSONResponse(sb.knobs.as_dict())


async def state(request: Request) -> Response:
    return JSONResponse(core.of(request).state())


def _tail(request: Request, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    limit = int(request.query_params.get("limit", "0") or 0)
    return entries[-limit:] if limit > 0 else entries


async def requests_log(request: Request) -> Response:
    sb = core.of(request)
    if request.method == "DELETE":
        sb.requests.clear()
        return Response(status_code=204)
    entries = list(sb.requests.entries)
    if prefix := request.query_params.get("path_prefix"):
        entries = [e for e in entries if e["path"].startswith(prefix)]
    return JSONResponse({"requests": _tail(request, entries)})


async def deliveries(request: Request) -> Response:
    sb = core.of(request)
    if request.method == "DELETE":
        sb.deliveries.log.clear()
        return Response(status_code=204)
    return JSONResponse({"deliveries": _tail(request, list(sb.deliveries.log)), "pending": sb.deliveries.pending})


async def login(request: Request) -> Response:
    sb, body = core.of(request), await _body(request)
    login: dict[str, Any] = {"deny": bool(body.get("deny"))}
    if org_id := _org_id(sb, body):
        login["org"] = org_id
    if body.get("email") or body.get("user_id"):
        login["user_id"] = _user_id(sb, body)
    sb.tokens.login = login
    return JSONResponse({"login": login})


async def tokens(request: Request) -> Response:
    sb, body = core.of(request), await _body(request)
    user_id, org_id = _user_id(sb, body), _org_id(sb, body)
    if request.path_params["op"] == "expire":
        return JSONResponse({"user_id": user_id, "expired": sb.tokens.expire_user(user_id, org_id)})
    if request.path_params["op"] == "revoke":
        return JSONResponse({"user_id": user_id, "revoked": sb.tokens.revoke_user(user_id, org_id)})
    raise ControlError(404, "unknown token operation")


async def disable_webhook(request: Request) -> Response:
    sb, body = core.of(request), await _body(request)
    id_ = int(request.path_params["id"])
    hook = sb.store.get("webhook", id_)
    if hook is None:
        raise ControlError(404, f"no webhook {id_}")
    reason = str(body.get("reason") or "Disabled by the sandbox")
    sb.store.update("webhook", id_, {"active": False, "disabledReason": reason, "disabledSince": timeutil.now_iso()})
    return JSONResponse({"data": resource(sb.store, hook, _base(request))})


async def visibility(request: Request) -> Response:
    """`{"email" | "user_id", "own_only": true}`: the user reads (and its webhooks deliver) only its own records."""
    sb, body = core.of(request), await _body(request)
    if not isinstance(body.get("own_only", True), bool):
        raise ControlError(400, "own_only must be a boolean")
    user_id = _user_id(sb, body)
    sb.visibility.restrict(user_id, own_only=bool(body.get("own_only", True)))
    return JSONResponse({"user_id": user_id, "own_records_only": sorted(sb.visibility.own_only)})


async def control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return _fail(exc.status, str(exc))


routes = [
    Route("/reset", reset, methods=["POST"]),
    Route("/orgs", orgs, methods=["POST"]),
    Route("/seed", seed_org, methods=["POST"]),
    Route("/records/{type}", records, methods=["GET", "POST"]),
    Route("/records/{type}/{id:int}", record, methods=["GET", "PATCH", "DELETE"]),
    Route("/faults", faults, methods=["GET", "POST"]),
    Route("/state", state, methods=["GET"]),
    Route("/requests", requests_log, methods=["GET", "DELETE"]),
    Route("/deliveries", deliveries, methods=["GET", "DELETE"]),
    Route("/login", login, methods=["POST"]),
    Route("/tokens/{op}", tokens, methods=["POST"]),
    Route("/webhooks/{id:int}/disable", disable_webhook, methods=["POST"]),
    Route("/visibility", visibility, methods=["POST"]),
]
