"""Requests that carry credentials never follow a redirect: a 307 would re-send the token, the client secret or
the call's body to wherever Outreach (or whoever answers in its place) points."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from outreach import api, oauth
from outreach.errors import OutreachUnavailable
from runtime.services import Services
from schemas.connection import TokenSet
from schemas.settings import Settings
from tools.embedded_redis import free_port


@dataclass
class Redirector:
    """Answers every request with a 307 to `elsewhere`, which records whatever reaches it."""

    url: str = ""
    reached_elsewhere: list[dict[str, str]] = field(default_factory=list)


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


@pytest.fixture
async def redirector() -> AsyncIterator[Redirector]:
    found = Redirector()

    async def elsewhere(request: web.Request) -> web.Response:
        found.reached_elsewhere.append({"path": request.path, "body": (await request.read()).decode(),
                                        "authorization": request.headers.get("Authorization", "")})
        return web.json_response({"data": {"type": "call", "id": 1}, "access_token": "x", "expires_in": 7200})

    sink = web.Application()
    sink.router.add_route("*", "/{tail:.*}", elsewhere)
    sink_runner, sink_port = await _serve(sink)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{sink_port}/steal{request.path}")

    front = web.Application()
    front.router.add_route("*", "/{tail:.*}", redirect)
    front_runner, front_port = await _serve(front)
    found.url = f"http://127.0.0.1:{front_port}"
    yield found
    await front_runner.cleanup()
    await sink_runner.cleanup()


async def test_api_requests_do_not_follow_redirects(settings: Settings, redirector: Redirector) -> None:
    services = Services.open(settings.model_copy(update={"outreach_api_url": f"{redirector.url}/api/v2"}))
    tokens = TokenSet(access_token="secret-access-token", refresh_token="r", expires_at=time.time() + 3600)
    rep = services.outreach.client.with_tokens("team_acme", "ana@acme.com", tokens)
    try:
        with pytest.raises(OutreachUnavailable):
            await api.create_call(rep, {"note": "Wants pricing for 40 seats"}, {}, done=_nothing_written)
        with pytest.raises(OutreachUnavailable):
            await api.get_one(rep, "prospects", 3456)
    finally:
        await services.close()
    assert redirector.reached_elsewhere == []


async def test_the_token_endpoint_does_not_follow_redirects(settings: Settings, redirector: Redirector) -> None:
    moved = settings.model_copy(update={"outreach_oauth_url": f"{redirector.url}/oauth"})
    services = Services.open(moved)
    try:
        with pytest.raises(OutreachUnavailable):
            await oauth.refresh(services.http, moved, TokenSet(access_token="a", refresh_token="secret-refresh-token",
                                                               expires_at=0))
        with pytest.raises(OutreachUnavailable):
            await oauth.exchange_code(services.http, moved, "secret-code")
    finally:
        await services.close()
    assert redirector.reached_elsewhere == []


async def _nothing_written() -> int | None:
    return None
