"""Build and sign Nooks events the way the Nooks dialer does (Standard Webhooks)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks import Webhook

EVENTS_SECRET = "whsec_" + "dGVzdC1ub29rcy1ldmVudHMtc2VjcmV0LTMyYnl0ZXM="


def call_event(call_id: str | None = None, *, team_id: str = "team_acme", rep_email: str = "ana@acme.com",
               event_id: str | None = None, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "team_id": team_id, "rep_email": rep_email, "call_id": call_id or f"call_{secrets.token_hex(6)}",
        "to": "+14155551234", "from": "+14155550100", "direction": "outbound",
        "started_at": "2026-11-29T12:58:00Z", "answered_at": "2026-11-29T12:58:09Z", "duration_seconds": 95,
        "prospect_id": 3456, "task_id": 1122, "disposition_id": 1, "notes": "Wants pricing for 40 seats",
        "recording_url": "https://rec.nooks.example/c/8f3a1c.mp3", "complete_task": True,
    }
    body.update(data)
    body = {k: v for k, v in body.items() if v is not None}
    return {"id": event_id or f"evt_{secrets.token_hex(8)}", "type": "call.completed",
            "created_at": "2026-11-29T13:00:05Z", "data": body}


def signed(body: bytes | dict[str, Any], *, msg_id: str | None = None, secret: str = EVENTS_SECRET,
           timestamp: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    msg_id = msg_id or (body.get("id") if isinstance(body, dict) else None) or f"msg_{secrets.token_hex(8)}"
    moment = timestamp or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, moment, raw.decode("utf-8", errors="surrogateescape")
                                     if isinstance(raw, bytes) else raw)
    return raw, {"webhook-id": str(msg_id), "webhook-timestamp": str(int(moment.timestamp())),
                 "webhook-signature": signature, "content-type": "application/json"}
