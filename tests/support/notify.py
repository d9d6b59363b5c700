"""A stand-in for the Nooks dialer's notification endpoint: collects what the service posts, verifies
nothing itself (tests do, with `standardwebhooks`), and can be told to answer 500 or 410."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from standardwebhooks import Webhook

NOTIFY_SECRET = "whsec_" + "bm9va3Mtbm90aWZ5LXNlY3JldC1mb3ItdGVzdHMtMzI="


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        value = orjson.loads(self.body)
        assert isinstance(value, dict)
        return value

    def verified(self, secret: str = NOTIFY_SECRET) -> dict[str, Any]:
        """The payload, after `standardwebhooks` checked the signature (raises if it does not match)."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        value = Webhook(secret).verify(self.body, {name: headers[name] for name in
                                                   ("webhook-id", "webhook-timestamp", "webhook-signature")})
        assert isinstance(value, dict)
        return value


@dataclass
class NotifyReceiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses for the next posts, in order
    default_status: int = 204
    attempts: int = 0

    def reset(self) -> None:
        self.received.clear()
        self.answers.clear()
        self.default_status = 204
        self.attempts = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        status = self.answers.pop(0) if self.answers else self.default_status
        if 200 <= status < 300:
            self.received.append(Received(dict(request.headers), body))
        return web.Response(status=status)

    def payloads(self) -> list[dict[str, Any]]:
        return [item.json() for item in self.received]

    def about(self, resource: str, resource_id: int) -> list[dict[str, Any]]:
        return [p for p in self.payloads()
                if p["data"]["resource"] == resource and p["data"]["resource_id"] == resource_id]


async def start_receiver() -> tuple[NotifyReceiver, web.AppRunner]:
    receiver = NotifyReceiver()
    app = web.Application()
    app.router.add_post("/notify", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/notify"
    return receiver, runner
