"""Connecting a rep: a single-use connect link → Outreach consent → callback that stores tokens encrypted,
syncs the team's users (id, email, name), maps the rep by email and releases their parked events.

The consent must be the rep's own: the callback completes only in the browser that opened the link (a cookie
set at `/start`), and the new token's Outreach user (outreach/identity.py) must be the rep's, by email or by the
rep's User Mapping, before anything is stored; and it must come from the team's Outreach org, the one its first
consent bound it to (`_in_the_teams_org`). Otherwise a 400 page names who was signed in, and the team's users,
mapping and connections stay as they were."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ingress import outreach_webhooks
from ingress.guards import nooks_api
from ingress.pages import templates
from ingress.responses import JSON
from outreach import oauth
from outreach.errors import OAuthRefused, OutreachError, OutreachUnavailable, RateLimited
from outreach.identity import token_owner
from outreach.users import OrgSample, UserRead, drop_users, read_users, sample_org, store_users
from runtime.services import Services
from schemas.connection import OutreachUser, TokenSet
from store.links import LINK_TTL_SECONDS, WrongBrowser

log = logging.getLogger("ingress.oauth")

BROWSER_COOKIE = "nooks_oauth"
COOKIE_PATH = "/v1/outreach/oauth"


def _page(request: Request, status: int, title: str, message: str) -> Response:
    return templates.TemplateResponse(request, "oauth_result.html",
                                      {"ok": status < 400, "title": title, "message": message},
                                      status_code=status, headers={"Cache-Control": "no-store"})


@nooks_api
async def connect_link(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services
    nonce = await services.stores.links.mint_link(team_id, rep_email)
    expires = datetime.now(UTC) + timedelta(seconds=LINK_TTL_SECONDS)
    return JSON({"url": f"{services.settings.public_base_url}/v1/outreach/oauth/start?link={nonce}",
                 "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})


async def start(request: Request) -> Response:
    services: Services = request.state.services
    binding = await services.stores.links.use_link(request.query_params.get("link", ""))
    if binding is None:
        return _page(request, 400, "This link is no longer valid",
                     "Connect links work once and for 10 minutes. Ask Nooks for a new one.")
    browser_secret = secrets.token_urlsafe(32)
    state = await services.stores.links.mint_state(*binding, browser_secret)
    answer = RedirectResponse(oauth.authorize_url(services.settings, state), status_code=302)
    # Lax: sent on Outreach's top-level redirect back to the callback, never on cross-site subrequests.
    answer.set_cookie(BROWSER_COOKIE, browser_secret, max_age=LINK_TTL_SECONDS, path=COOKIE_PATH, httponly=True,
                      samesite="lax", secure=services.settings.public_base_url.startswith("https://"))
    return answer


async def callback(request: Request) -> Response:
    services: Services = request.state.services
    params = request.query_params
    try:
        binding = await services.stores.links.use_state(params.get("state", ""),
                                                        request.cookies.get(BROWSER_COOKIE, ""))
    except WrongBrowser:
        return _page(request, 400, "Connection failed", "This sign-in was started in another browser. Open the "
                                                        "connect link from Nooks in this browser instead.")
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
    consent = await _confirm_owner(services, team_id, rep_email, tokens)
    if isinstance(consent, Refusal):
        log.info("consent refused team=%s rep=%s reason=%s", team_id, rep_email, consent.reason)
        return _page(request, consent.status, consent.title, consent.message)
    await services.stores.connections.save_tokens(team_id, rep_email, tokens)
    if isinstance(consent.users, UserRead):  # a sample is not the directory: `sync_users` reads what changed
        await store_users(services.stores.users, team_id, consent.users)
    if await services.stores.users.mapped_user_id(team_id, rep_email) is None:
        # Unmapped, the consent was accepted only because the token's user has the rep's email.
        await services.stores.users.map_rep(team_id, rep_email, consent.owner_id)
    released = await services.stores.parking.release(team_id, rep_email)
    await outreach_webhooks.subscribe_rep(services, team_id, rep_email)
    log.info("rep connected team=%s rep=%s user=%d released=%d", team_id, rep_email, consent.owner_id, released)
    return _page(request, 200, "Outreach connected", "Your Nooks calls will now be logged in Outreach.")


@dataclass(frozen=True)
class Consent:
    owner_id: int
    users: UserRead | OrgSample


@dataclass(frozen=True)
class Refusal:
    status: int
    title: str
    message: str
    reason: str


async def _confirm_owner(services: Services, team_id: str, rep_email: str, tokens: TokenSet) -> Consent | Refusal:
    """Which Outreach user granted `tokens`, and may this rep use them? Reads with the new tokens only (nothing
    stored yet); the rep's email must be that user's, or the rep's User Mapping must name that user."""
    session = services.outreach.client.with_tokens(team_id, rep_email, tokens)
    directory = services.stores.users
    try:
        owner_id = await token_owner(session, services.settings.webhook_target_url)
        users: UserRead | OrgSample
        if await directory.user_count(team_id):
            # A bound team: a sample of its users, read back with the new token, names the org (one request).
            users = await sample_org(session, directory, team_id, owner_id)
        else:
            # The team's first consent: the whole directory, read page by page into Redis, becomes its users.
            users = await read_users(session, directory, team_id, None, owner_id)
    except (OutreachUnavailable, RateLimited):
        return Refusal(502, "Outreach is unavailable", "Please try connecting again in a minute.", "unavailable")
    except OutreachError as failed:
        return Refusal(400, "Connection failed", "Outreach did not confirm which user signed in, so nothing was "
                                                 "stored. Please try again.", str(failed))
    consent = await _decide(services, team_id, rep_email, owner_id, users)
    if isinstance(consent, Refusal) and isinstance(users, UserRead):
        await drop_users(directory, users)  # nothing of a refused consent is kept
    return consent


async def _decide(services: Services, team_id: str, rep_email: str, owner_id: int,
                  users: UserRead | OrgSample) -> Consent | Refusal:
    owner = users.owner
    who = f"{owner.name} ({owner.email})" if owner is not None else f"Outreach user {owner_id}"
    another_org = Refusal(400, "Signed in as someone else",
                          f"You signed in to Outreach as {who}, in another Outreach organization than your team's. "
                          "Nothing was stored. Sign out of Outreach, sign in with your own account in your team's "
                          "organization and open the connect link again.", "another_org")
    if owner is None or not await _in_the_teams_org(services, team_id, owner, users):
        return another_org
    if owner.email != rep_email and await services.stores.users.mapped_user_id(team_id, rep_email) != owner_id:
        return Refusal(400, "Signed in as someone else",
                       f"You signed in to Outreach as {who}, not as {rep_email}. Nothing was stored. Sign out of "
                       "Outreach, sign in with your own account and open the connect link again.", "wrong_user")
    # Accepted: an unbound team is bound to this consent's org now (a consent from another org that bound it a
    # moment earlier wins, and this one is then checked against it).
    if not await services.stores.users.bind_org(team_id, owner) and \
            not await _in_the_teams_org(services, team_id, owner, users):
        return another_org
    return Consent(owner_id, users)


async def _in_the_teams_org(services: Services, team_id: str, owner: OutreachUser,
                            read: UserRead | OrgSample) -> bool:
    """A team is bound to the org of its first consent (True while it is unbound and knows no users).
    User ids are small integers per org and emails repeat across orgs (sandboxes), so neither alone names the
    org: the signed-in user's (id, email) must be a pair among the team's users, and the users the new token
    reads must be the team's: (nearly) all of a sample of them on a reconnect (`sample_org`, one request);
    more than half of the whole directory when a colleague's first consent stored users meanwhile (compared in
    Redis, a batch at a time: that read is staged there, never held whole in this process)."""
    directory = services.stores.users
    if isinstance(read, OrgSample):
        return await _a_known_pair(services, team_id, owner) and read.agrees()
    binding = await directory.org_binding(team_id)
    if read.staged is None:  # read_users above always reads the whole directory
        return False
    if not await directory.user_count(team_id):
        # Unbound: this consent binds the team. Bound with no users stored yet (a first consent completing right
        # now, a colleague's at the same moment): the binding's user must be among those this token reads.
        return binding is None or await directory.staged_has(read.staged, binding)
    # (Users stored by a version without bindings stand for the org as well.)
    if not await _a_known_pair(services, team_id, owner):
        return False
    shared, known = await directory.shared_with_staged(team_id, read.staged)
    return 2 * shared > known


async def _a_known_pair(services: Services, team_id: str, owner: OutreachUser) -> bool:
    known = await services.stores.users.user(team_id, owner.id)
    return known is not None and known.email == owner.email
