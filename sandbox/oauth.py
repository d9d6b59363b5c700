"""`/oauth/authorize` (auto-approves, no UI) and `/oauth/token` (code and refresh grants)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from . import core
from .tokens import DEFAULT_SCOPES, OAuthError


def _redirect(uri: str, **params: str) -> Response:
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{sep}{urlencode(params)}", status_code=302)


async def authorize(request: Request) -> Response:
    sb = core.of(request)
    q = request.query_params
    client_id, redirect_uri, state = q.get("client_id", ""), q.get("redirect_uri", ""), q.get("state", "")
    if not sb.tokens.check_client(client_id):
        return PlainTextResponse("Unknown client_id", 400)
    if not redirect_uri.startswith(("http://", "https://")):
        return PlainTextResponse("redirect_uri is required", 400)
    if q.get("response_type", "code") != "code":
        return _redirect(redirect_uri, error="unsupported_response_type", state=state)
    login = sb.tokens.login
    if q.get("deny") in ("1", "true") or login.get("deny"):
        return _redirect(redirect_uri, error="access_denied", state=state)
    org_id = str(login.get("org") or "")
    if org_id and org_id not in sb.orgs:
        return PlainTextResponse(f"No Outreach org {org_id}", 400)
    store = sb.org(org_id).store
    email = q.get("login_email") or login.get("email")
    if email:
        ids = store.ids_by_attr("user", "email", email) or set()
        user_id = min(ids) if ids else None
    else:
        user_id = login.get("user_id") or 1
    if user_id is None or store.get("user", user_id) is None:
        return PlainTextResponse(f"No Outreach user {email or user_id} to log in as", 400)
    scope = " ".join(q.get("scope", "").split()) or DEFAULT_SCOPES
    code = sb.tokens.issue_code(user_id, client_id, redirect_uri, scope, org_id)
    return _redirect(redirect_uri, code=code, state=state)


async def token(request: Request) -> Response:
    sb = core.of(request)
    # parsed by hand: Starlette's form parser needs python-multipart, which the project does not depend on
    field = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    grant_type = field.get("grant_type", "")
    try:
        if not sb.tokens.check_client(field.get("client_id", ""), field.get("client_secret", "")):
            raise OAuthError(401, "invalid_client", "Client authentication failed.")
        if grant_type == "authorization_code":
            body = sb.tokens.exchange_code(field["client_id"], field.get("code", ""), field.get("redirect_uri", ""))
        elif grant_type == "refresh_token":
            body = sb.tokens.exchange_refresh(field["client_id"], field.get("refresh_token", ""))
        else:
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")
    except OAuthError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        error = (
            {"error": exc.error}
            if exc.error == "invalid_client"
            else {
                "error": exc.error,
                "error_description": exc.description,
            }
        )
        return JSONResponse(error, exc.status, headers=headers)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


routes = [Route("/authorize", authorize, methods=["GET"]), Route("/token", token, methods=["POST"])]
