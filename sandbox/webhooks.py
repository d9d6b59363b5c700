"""Webhook deliveries: Outreach's envelope, HMAC signature, and its delivery semantics.

Deliveries never block the API answer: each one runs as a task on the server loop. Like Outreach, a delivery
waits at most `delivery_timeout_s`, is retried only when the connection fails (not on timeouts, which may have
reached the receiver, and never on an HTTP error status), and every attempt is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import uuid
from collections import deque
from typing import Any

import aiohttp
import orjson

from . import timeutil
from .knobs import Knobs
from .schema import TYPES
from .state import Change, Record, Store
from .visibility import Visibility

LOG_CAP = 10_000


def envelope(change: Change) -> dict[str, Any]:
    """Not JSON:API: relationships are `{"type": <relationship name>, "id": n}` without a `data` wrapper."""
    data: dict[str, Any] = {"type": change.type, "id": change.id}
    if not change.bare:
        data["attributes"] = change.attributes
        data["relationships"] = {name: {"type": name, "id": id_} for name, id_ in change.relationships.items()}
    meta = {"deliveredAt": timeutil.delivered_at(), "eventName": f"{change.type}.{change.action}"}
    return {"data": data, "meta": meta}


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _matches(webhook: Record, change: Change) -> bool:
    attrs = webhook.attributes
    return (
        bool(attrs.get("active"))
        and attrs.get("resource") in ("*", change.type)
        and attrs.get("action") in ("*", change.action)
    )


class Deliveries:
    def __init__(self, store: Store, knobs: Knobs, org_id: str, visibility: Visibility) -> None:
        self.store, self.knobs, self.org_id, self.visibility = store, knobs, org_id, visibility
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_CAP)
        self.pending = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        store.listeners.append(self.on_change)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def on_change(self, change: Change) -> None:
        if change.action not in TYPES[change.type].events:
            return
        record = self.store.get(change.type, change.id)
        rels = record.rels if record is not None else change.relationships  # destroyed: as it was
        hooks = [w for w in self.store.all("webhook").values() if _matches(w, change)
                 and self.visibility.can_read(self.store, w.rels.get("authorizer"), change.type, rels)]
        if not hooks:
            return
        payload = envelope(change)
        body = orjson.dumps(payload)
        for hook in hooks:
            entry: dict[str, Any] = {
                "webhook_id": hook.id,
                "event_id": str(uuid.uuid4()),
                "event": payload["meta"]["eventName"],
                "resource_type": change.type,
                "resource_id": change.id,
                "url": hook.attributes["url"],
                "body": payload,
            }
            if self._drop():
                self.log.append({**entry, "attempt": 0, "status": None, "error": None, "dropped": True})
                continue
            self._schedule(entry, body, str(hook.attributes.get("secret") or ""))

    def _drop(self) -> bool:
        if self.knobs.drop_next_deliveries > 0:
            self.knobs.drop_next_deliveries -= 1
            return True
        return random.random() < self.knobs.delivery_drop_rate  # noqa: S311 - fault injection, not crypto

    def _schedule(self, entry: dict[str, Any], body: bytes, secret: str) -> None:
        loop = self.loop
        if loop is None:
            self.log.append({**entry, "attempt": 0, "status": None, "error": "server not started", "dropped": False})
            return
        self.pending += 1

        def launch() -> None:
            task = loop.create_task(self._deliver(entry, body, secret))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            launch()
        else:  # a change made from another thread (Python-side test code)
            loop.call_soon_threadsafe(launch)

    async def _deliver(self, entry: dict[str, Any], body: bytes, secret: str) -> None:
        headers = {
            "Content-Type": "application/vnd.api+json",
            "Outreach-Org-Id": self.org_id,
            "Outreach-Webhook-Id": str(entry["webhook_id"]),
            "Outreach-Webhook-Event-Id": entry["event_id"],
            "Outreach-Webhook-Signature": sign(secret, body),
        }
        timeout = aiohttp.ClientTimeout(total=self.knobs.delivery_timeout_s)
        try:
            for attempt in range(1, self.knobs.delivery_retries + 2):
                result: dict[str, Any] = {"attempt": attempt, "status": None, "error": None, "dropped": False}
                try:
                    assert self._session is not None
                    async with self._session.post(entry["url"], data=body, headers=headers, timeout=timeout) as r:
                        await r.read()
                        result["status"] = r.status
                except TimeoutError:
                    result["error"] = "timeout"
                except aiohttp.ClientError as exc:
                    result["error"] = f"{type(exc).__name__}: {exc}"
                self.log.append({**entry, **result, "at": timeutil.now_iso()})
                if result["error"] is None or result["error"] == "timeout":
                    return
                if attempt <= self.knobs.delivery_retries:
                    await asyncio.sleep(self.knobs.delivery_retry_delay_s)
        finally:
            self.pending -= 1
