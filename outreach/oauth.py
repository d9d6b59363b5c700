"""OAuth 2.0 authorization-code flow against Outreach (`/authorize`, `/token`)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import aiohttp
import orjson
from pydantic import ValidationError

from outreach.errors import OAuthRefused, OutreachUnavailable, RateLimited
from schemas.connection import OAuthTokenResponse, TokenSet
from schemas.settings import Settings

SCOPES = (
    "users.all calls.all accounts.all webhooks.all teams.all prospects.all mailboxes.all phoneNumbers.all "
    "callDispositions.all events.all tasks.all mailings.all sequences.all sequenceTemplates.all "
    "sequenceSteps.all sequenceStates.all"
)


def authorize_url(settings: Settings, state: str) -> str:
    query = urlencode({
        "client_id": settings.outreach_client_id,
        "redirect_uri": settings.oauth_redirect_uri,
        "response_type": "code",
        "scope": SCOPES,
        "state": state,
    })
    return f"{settings.outreach_oauth_url}/authorize?{query}"


async def exchange_code(session: aiohttp.ClientSession, settings: Settings, code: str) -> TokenSet:
    answer = await _token_request(session, settings, {"grant_type": "authorization_code", "code": code})
    if not answer.refresh_token:
        raise OAuthRefused("Outreach issued no refresh token")
    return _token_set(answer, answer.refresh_token, time.time())


async def refresh(session: aiohttp.ClientSession, settings: Settings, current: TokenSet) -> TokenSet:
    """Refresh; a response that omits the refresh token keeps the stored one (it stays valid, as long as it was
    going to: its issue time is kept too)."""
    answer = await _token_request(session, settings,
                                  {"grant_type": "refresh_token", "refresh_token": current.refresh_token})
    if answer.refresh_token:
        return _token_set(answer, answer.refresh_token, time.time())
    return _token_set(answer, current.refresh_token, current.issued_at)


def _token_set(answer: OAuthTokenResponse, refresh_token: str, issued_at: float) -> TokenSet:
    return TokenSet(
        access_token=answer.access_token,
        refresh_token=refresh_token,
        expires_at=time.time() + max(answer.expires_in, 60),
        scopes=answer.scope.split(),
        issued_at=issued_at,
    )


async def _token_request(
    session: aiohttp.ClientSession, settings: Settings, grant: dict[str, str]
) -> OAuthTokenResponse:
    form = {
        **grant,
        "client_id": settings.outreach_client_id,
        "client_secret": settings.outreach_client_secret.get_secret_value(),
        "redirect_uri": settings.oauth_redirect_uri,
    }
    try:
        # Not followed: a 307 would re-send the client secret and the grant to wherever it points.
        async with session.post(f"{settings.outreach_oauth_url}/token", data=form, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=20)) as response:
            body = await response.read()
            status = response.status
            retry_after = response.headers.get("Retry-After")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise OutreachUnavailable(f"Outreach token endpoint unreachable ({type(error).__name__})") from None
    if status == 429:
        raise RateLimited(seconds(retry_after, default=60.0))
    if status >= 500 or 300 <= status < 400:
        hint = seconds(retry_after, 0.0) if retry_after else None
        raise OutreachUnavailable(f"Outreach token endpoint answered {status}", hint)
    if status != 200:
        raise OAuthRefused(f"Outreach refused the grant ({status} {_oauth_error(body)})")
    try:
        return OAuthTokenResponse.model_validate_json(body)
    except ValidationError:
        raise OutreachUnavailable("Outreach token endpoint answered an unreadable body") from None


def _oauth_error(body: bytes) -> str:
    """The OAuth `error` code only (e.g. invalid_grant); its description is not ours to keep."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "error"
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) and error.isidentifier() else "error"


def seconds(value: str | None, default: float) -> float:
    """Parse a `Retry-After` header in seconds; `default` when absent or not a number."""
    try:
        return max(float(value), 0.0) if value is not None else default
    except ValueError:
        return default
