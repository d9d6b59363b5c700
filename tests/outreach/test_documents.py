"""An odd Outreach answer never carries record data into an exception, a traceback or a log line.

pydantic's ValidationError quotes the input it refused; a 2xx answer this service cannot read holds prospect
values. Here a loopback server answers every request 200 with a malformed document full of a seeded value, and
each typed read and write must fail with a safe OutreachError."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from outreach import api
from outreach.call_tasks import due_call_tasks
from outreach.client import RepSession
from outreach.errors import OutreachError
from outreach.identity import token_owner
from outreach.users import fetch_user, fetch_users
from outreach.webhooks import create_webhook
from runtime.services import Services
from schemas.connection import TokenSet
from schemas.settings import Settings
from tools.embedded_redis import free_port

SEED = "Whitfield-Seeded-4417"
MALFORMED = [
    {"data": {"type": "prospect", "id": SEED, "attributes": {"lastName": SEED}}},
    {"data": [{"type": "task", "id": SEED, "attributes": {"note": SEED}}], "links": {"next": None}},
    {"data": [SEED], "included": [{"id": SEED}]},
    {"data": {"id": {"nested": SEED}}},
    {"data": {"type": "webhook", "id": 7, "relationships": {"creator": {"data": {"type": "user", "id": SEED}}}}},
]


@pytest.fixture(params=range(len(MALFORMED)), ids=lambda i: f"doc{i}")
async def rep(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[RepSession]:
    document = MALFORMED[request.param]

    async def answer(_: web.Request) -> web.Response:
        return web.json_response(document, status=200, content_type="application/vnd.api+json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    services = Services.open(settings.model_copy(update={"outreach_api_url": f"http://127.0.0.1:{port}/api/v2"}))
    tokens = TokenSet(access_token="a" * 40, refresh_token="r" * 40, expires_at=time.time() + 3600)
    try:
        yield services.outreach.client.with_tokens("team_acme", "ana@acme.com", tokens)
    finally:
        await services.close()
        await runner.cleanup()


async def _users(rep: RepSession) -> Any:
    return await fetch_users(rep)


async def _iterate(rep: RepSession) -> Any:
    return [r async for r in api.iterate(rep, "tasks", {})]


READS: dict[str, Callable[[RepSession], Awaitable[Any]]] = {
    "get_one": lambda rep: api.get_one(rep, "prospects", 3456),
    "iterate": _iterate,
    "fetch_users": _users,
    "fetch_user": lambda rep: fetch_user(rep, 1),
    "create_call": lambda rep: api.create_call(rep, {"direction": "outbound"}, {}, done=_nothing_written),
    "create_webhook": lambda rep: create_webhook(rep, "http://127.0.0.1/hook", "task", "s" * 64),
    "token_owner": lambda rep: token_owner(rep, "http://127.0.0.1/hook"),
    "due_call_tasks": lambda rep: due_call_tasks(rep, 1, datetime.now(UTC), 10),
    "by_number": lambda rep: api.prospect_id_by_number(rep, "+14155551234"),
}


@pytest.mark.parametrize("read", sorted(READS))
async def test_a_malformed_answer_fails_safely(rep: RepSession, read: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    try:
        result = await READS[read](rep)
    except OutreachError as failed:
        text = "".join(traceback.format_exception(failed))
        assert SEED not in text, text
    except Exception as failed:  # a ValidationError (or anything else) escaping with the document in it
        pytest.fail(f"{read} raised {type(failed).__name__}, not an OutreachError: "
                    f"{'it quotes the answer' if SEED in str(failed) else 'unsafe type'}")
    else:
        assert SEED not in repr(result)  # a lenient read that skipped what it could not use
    assert SEED not in caplog.text


async def _nothing_written() -> int | None:
    return None
