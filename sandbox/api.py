"""The /api/v2 routes: collections, members, `POST /calls`, `/tasks`, `/sequenceStates`, webhooks, and the member
actions of tasks and sequence states."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from . import calls, conformance, core, documents, query, sequence_states, tasks
from .jsonapi import ApiError, JsonApiResponse, included, not_found, resource, validation
from .schema import BY_PLURAL, ResourceType
from .state import StoreError

_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
_ACTION_PARAM = "actionParams["
_CALLS_OPT_STATUS = ("opted_in", "opted_out", None)  # `prospect.callsOptStatus`'s description lists these


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}/api/v2"


def _rtype(request: Request) -> ResourceType:
    rt = BY_PLURAL.get(request.path_params["plural"])
    if rt is None:
        raise ApiError(404, "resourceNotFound", "Resource Not Found", f"Unknown resource '{request.url.path}'.")
    return rt


def _not_allowed(request: Request) -> ApiError:
    return ApiError(405, "methodNotAllowed", "Method Not Allowed", f"{request.method} is not supported here.")


def _check_method(request: Request) -> None:
    """Only the methods Outreach's OpenAPI lists for the path (no PATCH /calls, no DELETE /users...)."""
    found = conformance.route(request.url.path.removeprefix("/api/v2"))
    if found is None or request.method not in found.methods:
        raise _not_allowed(request)


async def collection(request: Request) -> Response:
    rt = _rtype(request)
    _check_method(request)
    if request.method == "GET":
        return _list(request, rt)
    if request.method == "POST":
        return await _create(request, rt)
    raise _not_allowed(request)


async def member(request: Request) -> Response:
    rt, id_ = _rtype(request), int(request.path_params["id"])
    _check_method(request)
    sb = core.org_of(request)
    record = sb.store.get(rt.name, id_)
    if record is None or not sb.visibility.sees(sb.store, request.scope["sandbox.user_id"], record):
        raise not_found(rt.name, id_)
    if request.method == "GET":
        params = list(request.query_params.multi_items())
        q = query.parse(sb.store, rt, params, collection=False)
        doc: dict[str, Any] = {"data": resource(sb.store, record, _base(request), q.fields)}
        if q.include:
            doc["included"] = included(sb.store, [record], q.include, _base(request), q.fields)
        return JsonApiResponse(doc)
    if request.method == "DELETE":
        sb.store.delete(rt.name, id_)
        return Response(status_code=204)
    if request.method == "PATCH":
        data = await documents.read(request)
        documents.check(rt, data)
        attrs = documents.attributes(data)
        rels = documents.relationships(sb.store, rt, data)
        if rt.name == "webhook":
            _check_webhook(attrs, creating=False)
            attrs.update(disabledReason=None, disabledSince=None)  # any update clears the disabled state
            rels["updater"] = request.scope["sandbox.user_id"]
        if rt.name == "prospect" and attrs.get("callsOptStatus", None) not in _CALLS_OPT_STATUS:
            raise validation("callsOptStatus must be opted_in, opted_out or null.", "/data/attributes/callsOptStatus")
        sb.store.update(rt.name, id_, attrs, rels)
        return JsonApiResponse({"data": resource(sb.store, record, _base(request))})
    raise _not_allowed(request)


async def member_action(request: Request) -> Response:
    """`POST /<plural>/{id}/actions/<action>`: the actions the spec declares, with their `actionParams[..]` in the
    query string; the sandbox performs those of tasks and sequence states."""
    sb = core.org_of(request)
    await documents.read(request, required=False)  # a body is optional, but must be well-formed if sent
    found = conformance.route(request.url.path.removeprefix("/api/v2"))
    if found is None or "/actions/" not in found.template:
        raise ApiError(404, "resourceNotFound", "Resource Not Found", f"Unknown action '{request.url.path}'.")
    for problem in conformance.query_problems(found.type_, request.query_params.multi_items(), collection=False,
                                              action_params=found.action_params):
        raise ApiError(problem.status, problem.id, problem.title, problem.detail, parameter=problem.parameter)
    params = {
        k[len(_ACTION_PARAM) : -1]: v
        for k, v in request.query_params.items()
        if k.startswith(_ACTION_PARAM) and k.endswith("]")
    }
    user_id: int = request.scope["sandbox.user_id"]
    type_, id_, action = found.type_.name, int(request.path_params["id"]), request.path_params["action"]
    target = sb.store.get(type_, id_)
    if target is not None and not sb.visibility.sees(sb.store, user_id, target):
        raise not_found(type_, id_)
    if type_ == "task":
        record = tasks.perform(sb.store, id_, action, params, user_id)
    elif type_ == "sequenceState":
        record = sequence_states.perform(sb.store, id_, action)
    else:
        raise ApiError(404, "resourceNotFound", "Resource Not Found", f"The sandbox does not perform '{action}'.")
    return JsonApiResponse({"data": resource(sb.store, record, _base(request))})


def _list(request: Request, rt: ResourceType) -> Response:
    sb = core.org_of(request)
    params = list(request.query_params.multi_items())
    q = query.parse(sb.store, rt, params)
    user_id: int = request.scope["sandbox.user_id"]
    q.predicates.append(lambda record: sb.visibility.sees(sb.store, user_id, record))
    page, more = query.run(sb.store, rt, q)
    base = _base(request)
    self_url = f"{base}/{rt.plural}"
    links = {"first": query.page_link(self_url, params, None, q.sort)}
    if more:
        links["next"] = query.page_link(self_url, params, page[-1], q.sort)
    doc: dict[str, Any] = {"data": [resource(sb.store, r, base, q.fields) for r in page], "links": links}
    if q.include:
        doc["included"] = included(sb.store, page, q.include, base, q.fields)
    return JsonApiResponse(doc)


async def _create(request: Request, rt: ResourceType) -> Response:
    sb = core.org_of(request)
    data = await documents.read(request)
    documents.check(rt, data)
    attrs = documents.attributes(data)
    subject = (data.get("relationships") or {}).pop("subject", None) if rt.name == "task" else None
    rels = documents.relationships(sb.store, rt, data)
    user_id: int = request.scope["sandbox.user_id"]
    if rt.name == "task":
        rels = tasks.creation(sb.store, attrs, subject, rels)
    elif rt.name == "sequenceState":
        attrs, rels = sequence_states.enrolment(sb.store, rels)
    elif rt.name == "call":
        calls.validate(attrs)
        if rels.get("prospect") is None:
            raise validation("A call must have a prospect.", "/data/relationships/prospect")
        rels.setdefault("user", user_id)
        attrs.update(calls.read_only_values(attrs))
    elif rt.name == "webhook":
        _check_webhook(attrs, creating=True)
        rels.update(authorizer=user_id, creator=user_id, updater=user_id)
    try:
        record = sb.store.create(rt.name, attrs, rels)
    except StoreError as exc:
        raise validation(str(exc), "/data") from None
    return JsonApiResponse({"data": resource(sb.store, record, _base(request))}, 201)


def _check_webhook(attrs: dict[str, Any], *, creating: bool) -> None:
    url = attrs.get("url")
    if (creating or "url" in attrs) and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise validation("url must be an http(s) URL.", "/data/attributes/url")
    for name in ("resource", "action"):
        if name in attrs and not isinstance(attrs[name], str):
            raise validation(f"{name} must be a string.", f"/data/attributes/{name}")
        if creating and attrs.get(name) is None:
            attrs[name] = "*"
    if "active" in attrs and not isinstance(attrs["active"], bool):
        raise validation("active must be a boolean.", "/data/attributes/active")


async def _unknown(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    await ApiError(404, "resourceNotFound", "Resource Not Found", f"No route for '{path}'.").response()(
        scope, receive, send
    )


router = Router(
    routes=[
        Route("/{plural}/{id:int}/actions/{action}", member_action, methods=["POST"]),
        Route("/{plural}", collection, methods=_METHODS),
        Route("/{plural}/{id:int}", member, methods=_METHODS),
    ],
    default=_unknown,
)
