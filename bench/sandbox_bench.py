"""`python -m bench.sandbox_bench [--rounds N]`: what holding the sandbox to Outreach's contract costs.

In process (the ASGI app called directly: no sockets, no other processes), for the requests the service makes
most, on the demo org with a 100-rep bench org beside it: CPU µs to serve each request (its refusal checks are
always on), beside the µs the tests' audit then spends validating the exchange against the spec
(`sandbox.audit`, off outside tests). The baseline in the same run is the cheapest request the API has (a
member GET of a user, no query). Figures: docs/sandbox.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from outreach import call_tasks
from outreach.client import USER_AGENT
from sandbox import create_app, seed
from sandbox.audit import Exchange
from sandbox.core import DEFAULT_CLIENT_ID
from sandbox.tokens import DEFAULT_SCOPES

MEDIA = "application/vnd.api+json"


async def asgi(app: Any, method: str, path: str, query: dict[str, Any], body: Any, token: str) -> tuple[int, bytes]:
    raw = orjson.dumps(body) if body is not None else b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": urlencode(query).encode(), "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode()),
                         (b"content-type", MEDIA.encode()), (b"user-agent", USER_AGENT.encode())]}
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def requests() -> list[tuple[str, str, str, dict[str, Any], Any]]:
    due = call_tasks.first_page_params(1, datetime.now(UTC), 50)
    call = {"data": {"type": "call", "attributes": {
        "direction": "outbound", "outcome": "Answered", "from": "+14155550100", "to": "+14155551234",
        "dialedAt": "2026-11-29T12:00:00Z", "answeredAt": "2026-11-29T12:00:05Z",
        "completedAt": "2026-11-29T12:03:00Z", "note": "n", "externalVendor": "Nooks", "vendorCallId": "c1"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": 3456}},
                          "task": {"data": {"type": "task", "id": 1122}}}}}
    return [
        ("baseline: GET /users/1", "GET", "/api/v2/users/1", {}, None),
        ("log_call: GET /tasks/{id} (sparse)", "GET", "/api/v2/tasks/1122",
         {"fields[task]": "state,prospect,sequence,sequenceState,sequenceStep"}, None),
        ("log_call: GET /phoneNumbers?filter[number]", "GET", "/api/v2/phoneNumbers",
         {"filter[number]": "+14155551234", "page[size]": 100, "count": "false"}, None),
        ("log_call: POST /calls", "POST", "/api/v2/calls", {}, call),
        ("call-tasks: GET /tasks (63 due, all included)", "GET", "/api/v2/tasks", {**due, "page[size]": 100}, None),
    ]


async def measure(rounds: int) -> list[tuple[str, float, float, int]]:
    app = create_app(seed_demo=False, audit=True)
    sandbox = app.sandbox
    seed.seed_demo(sandbox.store)
    seed.seed_bench(sandbox.store, 100, 10)
    code = sandbox.tokens.issue_code(1, DEFAULT_CLIENT_ID, "http://127.0.0.1/cb", DEFAULT_SCOPES)
    token = sandbox.tokens.exchange_code(DEFAULT_CLIENT_ID, code, "http://127.0.0.1/cb")["access_token"]
    assert sandbox.audit is not None
    out = []
    for name, method, path, query, body in requests():
        serve, check = [], []
        size = 0
        for _ in range(rounds):
            started = time.perf_counter()
            status, payload = await asgi(app, method, path, query, body, token)
            serve.append(time.perf_counter() - started)
            assert status in (200, 201), (name, status, payload[:300])
            size = len(payload)
            exchanges: list[Exchange] = sandbox.audit.take()
            started = time.perf_counter()
            problems = [p for e in exchanges for p in e.problems(from_service=True)]
            check.append(time.perf_counter() - started)
            assert not problems, problems
        out.append((name, statistics.median(serve) * 1e6, statistics.median(check) * 1e6, size))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.rounds))
    print(f"| request | serve (µs, median of {args.rounds}) | audit check (µs) | response bytes |")
    print("|---|---|---|---|")
    for name, serve, check, size in rows:
        print(f"| {name} | {serve:,.0f} | {check:,.0f} | {size:,} |")


if __name__ == "__main__":
    main()
