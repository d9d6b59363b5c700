"""Connecting a rep: a single-use connect link → Outreach consent → callback that stores tokens encrypted,
syncs the team's users (id, email, name), maps the rep by email and releases their parked events."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ingress import outreach_webhooks
from ingress.guards import nooks_api
from ingress.pages import templates
from ingress.responses import JSON
from outreach import oauth
from outreach.errors import OAuthRefused, OutreachError
from outreach.users import fetch_users
from runtime.services import Services
from store.links import LINK_TTL_SECONDS

log = logging.getLogger("ingress.oauth")


def _page(request: Request, status: int, title: str, message: str) -> Response:
    return templates.TemplateResponse(request, "oauth_result.html",
                                      {"ok": status < 400, "title": title, "message": message},
                                      status_code=status, headers={"Cache-Control": "no-store"})


@nooks_api
async def connect_link(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services
    nonce = await services.links.mint_link(team_id, rep_email)
    expires = datetime.now(UTC) + timedelta(seconds=LINK_TTL_SECONDS)
    return JSON({"url": f"{services.settings.public_base_url}/v1/outreach/oauth/start?link={nonce}",
                 "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})


async def start(request: Request) -> Response:
    services: Services = request.state.services
    binding = await services.links.use_link(request.query_params.get("link", ""))
    if binding is None:
        return _page(request, 400, "This link is no longer valid",
                     "Connect links work once and for 10 minutes. Ask Nooks for a new one.")
    state = await services.links.mint_state(*binding)
    return RedirectResponse(oauth.authorize_url(services.settings, state), status_code=302)


async def callback(request: Request) -> Response:
    services: Services = request.state.services
    params = request.query_params
    binding = await services.links.use_state(params.get("state", ""))
    if binding is None:
        return _page(request, 400, "Connection failed", "This sign-in is unknown, expired or already used.")
    if params.get("error"):
        reason = "access was denied" if params.get("error") == "access_denied" else "Outreach reported an error"
        return _page(request, 400, "Connection cancelled", f"Nothing was changed: {reason}.")
    code = params.get("code", "")
    if not code or len(code) > 2048:
        return _page(request, 400, "Connection failed", "Outreach sent no authorization code.")
    team_id, rep_email = binding
    try:
        tokens = await oauth.exchange_code(services.http, services.settings, code)
    except OAuthRefused:
        return _page(request, 400, "Connection failed", "Outreach refused the authorization code.")
    except OutreachError:
        return _page(request, 502, "Outreach is unavailable", "Please try connecting again in a minute.")
    await services.connections.save_tokens(team_id, rep_email, tokens)
    mapped = await _sync_and_map(services, team_id, rep_email)
    released = await services.parking.release(team_id, rep_email) if mapped else 0
    await outreach_webhooks.subscribe_rep(services, team_id, rep_email)
    log.info("rep connected team=%s rep=%s mapped=%s released=%d", team_id, rep_email, mapped, released)
    if not mapped:
        return _page(request, 200, "Outreach connected",
                     "No Outreach user has your email address, so calls wait until an admin maps you.")
    return _page(request, 200, "Outreach connected", "Your Nooks calls will now be logged in Outreach.")


async def _sync_and_map(services: Services, team_id: str, rep_email: str) -> bool:
    """Refresh the team's users with the new token and map the rep by email, unless already mapped."""
    try:
        users = await fetch_users(services.outreach.for_rep(team_id, rep_email))
    except OutreachError as failed:
        log.warning("user sync failed team=%s: %s", team_id, failed)
        return await services.users.mapped_user_id(team_id, rep_email) is not None
    await services.users.replace_users(team_id, users)
    if await services.users.mapped_user_id(team_id, rep_email) is not None:
        return True
    match = next((user for user in users if user.email == rep_email), None)
    if match is None:
        return False
    await services.users.map_rep(team_id, rep_email, match.id)
    return True
