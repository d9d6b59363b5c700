"""Recording /api/v2 exchanges (request and response, bodies included) for checks against Outreach's contract.

Off unless `create_app(audit=True)`: tests turn it on and check each recorded exchange after every test
(tests/support/conformance.py); the checks run there, not on the sandbox's hot path (a 63-task page with its
included records takes ~1 ms to validate, ~40 % of serving it: `python -m bench.sandbox_bench`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import conformance

API_PREFIX = "/api/v2"
CAP = 20_000  # exchanges kept between two takes (a test makes at most a few thousand)


@dataclass
class Exchange:
    method: str
    path: str  # without /api/v2
    query: list[tuple[str, str]]
    user_agent: str
    request_type: str  # Content-Type of the request
    request_body: bytes
    status: int | None = None  # None: the connection was dropped (a fault knob)
    response_type: str = ""
    response_body: bytes = b""

    def problems(self, *, from_service: bool) -> list[str]:
        """Where this exchange leaves Outreach's contract: the response always; the request too when
        `from_service` (tests send bad requests on purpose, the service never should)."""
        out: list[str] = []
        if self.status is not None:
            out += [f"response {self.status}: {p}" for p in self._response_problems()]
        if from_service:
            out += [f"request: {p}" for p in self._request_problems()]
        return [f"{self.method} {self.path}: {p}" for p in out]

    def _response_problems(self) -> list[str]:
        media = self.response_type.split(";")[0].strip()
        if self.status == 401:
            # Outreach answers an expired or revoked token in plain text (API-NOTES.md, "OAuth 2.0").
            return [] if media == "text/plain" else [f"401 must be text/plain, not {media!r}"]
        if self.status == 204:
            return [] if not self.response_body else ["204 with a body"]
        if media != conformance.MEDIA_TYPE:
            return [f"Content-Type {media!r}"]
        body = conformance.decode(self.response_body)
        return conformance.document_problems(self.method, self.path, self.status or 0, body)

    def _request_problems(self) -> list[str]:
        problems = [p.detail for p in conformance.request_problems(
            self.method, self.path, self.query, conformance.decode(self.request_body))]
        if self.request_body:
            media = self.request_type.split(";")[0].strip()
            if media != conformance.MEDIA_TYPE:
                problems.append(f"Content-Type {media!r}")
            elif "/actions/" not in self.path:
                problems += conformance.document_problems(
                    self.method, self.path, 0, conformance.decode(self.request_body), request=True)
        return problems


class Audit:
    def __init__(self) -> None:
        self.exchanges: deque[Exchange] = deque(maxlen=CAP)

    def take(self) -> list[Exchange]:
        """The exchanges recorded since the last take (completed ones first; thread-safe enough for deque)."""
        taken = []
        while self.exchanges:
            taken.append(self.exchanges.popleft())
        return taken


class AuditMiddleware:
    def __init__(self, app: ASGIApp, audit: Audit | None) -> None:
        self.app, self.audit = app, audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        audit = self.audit
        if audit is None or scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"][len(API_PREFIX):],
            query=parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True),
            user_agent=headers.get("user-agent", ""),
            request_type=headers.get("content-type", ""),
            request_body=b"",
        )

        # The whole body is read first: a fault may answer without reading it, and the check needs it all.
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            exchange.request_body += message.get("body", b"")
            more = message.get("more_body", False)
        replayed = False

        async def recording_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": exchange.request_body, "more_body": False}
            return await receive()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_type = Headers(raw=message.get("headers", [])).get("content-type", "")
            elif message["type"] == "http.response.body":
                exchange.response_body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            audit.exchanges.append(exchange)
