"""The request log and per-route counters that tests and benchmarks assert on."""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import timeutil

LOG_CAP = 10_000
OBSERVED = ("/api/v2", "/oauth")
_NUMERIC = re.compile(r"/\d+(?=/|$)")


def template(path: str) -> str:
    return _NUMERIC.sub("/{id}", path)


class RequestLog:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=LOG_CAP)
        self.counts: dict[str, int] = {}
        # 4xx answers other than 401 (token) and 429 (rate), by route and status: what a run asked that Outreach
        # would refuse (scripts/run and the benchmarks print them; the log itself keeps only the last entries).
        self.refusals: dict[str, int] = {}

    def add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        key = f"{entry['method']} {template(entry['path'])}"
        self.counts[key] = self.counts.get(key, 0) + 1
        status = entry.get("status")
        if isinstance(status, int) and 400 <= status < 500 and status not in (401, 429):
            refused = f"{key} {status}"
            self.refusals[refused] = self.refusals.get(refused, 0) + 1


class RequestLogMiddleware:
    """Outermost layer: gives inner layers a context dict (`sandbox.ctx`) and logs how each request ended."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(OBSERVED):
            await self.app(scope, receive, send)
            return
        ctx: dict[str, Any] = {"user_id": None, "fault": None, "status": None}
        scope["sandbox.ctx"] = ctx
        started = time.perf_counter()

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctx["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.log.add(
                {
                    "at": timeutil.now_iso(),
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope["query_string"].decode("latin-1"),
                    "user_id": ctx["user_id"],
                    "status": ctx["status"],
                    "fault": ctx["fault"],
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                }
            )
