"""`python -m tools.sample [--call-id ID]`: post one signed sample `call.completed` event to the service.

Reads NOOKS_EVENTS_SECRET and PUBLIC_BASE_URL from the environment, like the service does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from standardwebhooks import Webhook


def sample_event(call_id: str, rep_email: str = "ana@acme.com", team_id: str = "team_acme") -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "id": f"evt_{secrets.token_hex(10)}", "type": "call.completed", "created_at": now.isoformat(),
        "data": {
            "team_id": team_id, "rep_email": rep_email, "call_id": call_id,
            "to": "+14155551234", "from": "+14155550100", "direction": "outbound",
            "started_at": now.isoformat(), "answered_at": now.isoformat(), "duration_seconds": 95,
            "prospect_id": 3456, "task_id": 1122, "disposition": "Answered - Meeting Set",
            "notes": "Sample call from the README", "complete_task": True,
            # The rep's outcome (docs/after-call.md): the sequence finished as replied, a follow-up call tomorrow.
            "after_call": {"sequence": "finish_replied", "follow_up": {"after": "P1D", "note": "Send pricing"}},
        },
    }


def sign(secret: str, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(event)
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(event["id"], now, body.decode())
    return body, {"webhook-id": event["id"], "webhook-timestamp": str(int(now.timestamp())),
                  "webhook-signature": signature, "content-type": "application/json"}


async def post_sample(base_url: str, secret: str, call_id: str) -> tuple[int, str]:
    body, headers = sign(secret, sample_event(call_id))
    async with aiohttp.ClientSession() as http, http.post(f"{base_url}/v1/nooks/events", data=body,
                                                          headers=headers) as response:
        return response.status, await response.text()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.sample")
    parser.add_argument("--call-id", default=f"call_{secrets.token_hex(4)}")
    args = parser.parse_args()
    base_url = os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")
    status, text = asyncio.run(post_sample(base_url, os.environ["NOOKS_EVENTS_SECRET"], args.call_id))
    print(status, text)


if __name__ == "__main__":
    main()
