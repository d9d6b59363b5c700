"""Nooks `call.completed` events for the benchmarks, signed per Standard Webhooks, and raw HTTP requests.

Signing is done here with hmac directly (the same bytes `standardwebhooks` produces) so that 100k+ events
can be pre-signed in a couple of seconds before a load run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.procs import EVENTS_SECRET

TEAM = "team_bench"
SEPARATOR = b"\0"  # between raw requests in a requests file (read by bench/wrk.lua and bench.loadgen)
_KEY = base64.b64decode(EVENTS_SECRET.removeprefix("whsec_"))


@dataclass(frozen=True)
class Org:
    """The sandbox's bench org (see sandbox/seed.py `seed_bench`)."""

    reps: int
    prospects_per_rep: int

    def rep_email(self, rep: int) -> str:
        return f"rep{rep}@bench.example"

    def prospect_id(self, rep: int, j: int) -> int:
        return 100_000 + (rep - 1) * self.prospects_per_rep + j

    def number(self, rep: int, j: int) -> str:
        return f"+1628{rep:03d}{j:04d}"

    def slots(self) -> Iterator[tuple[int, int]]:
        """(rep, prospect index), round-robin over reps so that load spreads over every rep."""
        for j in range(1, self.prospects_per_rep + 1):
            for rep in range(1, self.reps + 1):
                yield rep, j


def event(org: Org, rep: int, j: int, *, with_task: bool = True, tag: str = "") -> dict[str, object]:
    suffix = secrets.token_hex(6)
    pid = org.prospect_id(rep, j)
    data: dict[str, object] = {
        "team_id": TEAM, "rep_email": org.rep_email(rep), "call_id": f"call_{tag}{suffix}",
        "to": org.number(rep, j), "from": "+14155550100", "direction": "outbound",
        "started_at": "2026-11-29T12:58:00Z", "answered_at": "2026-11-29T12:58:09Z", "duration_seconds": 95,
        "prospect_id": pid, "disposition_id": 1, "notes": "Wants pricing for 40 seats",
        "recording_url": "https://rec.nooks.example/c/8f3a1c.mp3",
    }
    if with_task:
        data.update(task_id=pid + 200_000, complete_task=True)
    return {"id": f"evt_{tag}{suffix}", "type": "call.completed", "created_at": "2026-11-29T13:00:05Z", "data": data}


def events(org: Org, count: int, *, with_task: bool = True, tag: str = "") -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    while len(out) < count:
        for rep, j in org.slots():
            out.append(event(org, rep, j, with_task=with_task, tag=tag))
            if len(out) == count:
                break
    return out


def sign_headers(event_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp or int(time.time()))
    digest = hmac.new(_KEY, f"{event_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": event_id, "webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(digest).decode(), "content-type": "application/json"}


def raw_request(event_id: str, body: bytes, timestamp: int | None = None) -> bytes:
    headers = sign_headers(event_id, body, timestamp)
    head = (f"POST /v1/nooks/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"webhook-id: {headers['webhook-id']}\r\nwebhook-timestamp: {headers['webhook-timestamp']}\r\n"
            f"webhook-signature: {headers['webhook-signature']}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def write_requests(path: Path, org: Org, count: int, tag: str) -> Path:
    """`count` distinct signed requests (unique webhook-id and call_id), NUL-separated, for wrk or loadgen."""
    ts = int(time.time())
    with path.open("wb") as out:
        for n, evt in enumerate(events(org, count, tag=tag)):
            if n:
                out.write(SEPARATOR)
            out.write(raw_request(str(evt["id"]), orjson.dumps(evt), ts))
    return path
