"""Helpers for Outreach webhook tests: our stored subscriptions, signed deliveries, and a worker-idle wait."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from runtime.services import Services
from store import jobs, keys
from store.crypto import TokenCipher
from store.subscriptions import Subscription, SubscriptionStore
from tests.support.service import Service, eventually

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "outreach"
RESOURCES = {"task", "prospect", "sequenceState", "call", "user"}
TEAM, REP = "team_acme", "ana@acme.com"


def store_of(svc: Service) -> SubscriptionStore:
    return SubscriptionStore(svc.redis, TokenCipher(svc.settings.encryption_keys))


async def our_subscriptions(svc: Service, team_id: str = TEAM, rep_email: str = REP) -> dict[str, Subscription]:
    return await store_of(svc).for_rep(team_id, rep_email)


async def sandbox_webhooks(svc: Service) -> list[dict[str, Any]]:
    return await svc.sandbox.records("webhook")


async def connect_with_webhooks(svc: Service, team_id: str = TEAM, rep_email: str = REP) -> dict[str, Subscription]:
    """Connect the rep and wait until its subscription job has subscribed every resource and finished."""
    status, page = await svc.connect(team_id, rep_email)
    assert status == 200, page

    async def complete() -> dict[str, Subscription]:
        subs = await our_subscriptions(svc, team_id, rep_email)
        return subs if set(subs) == RESOURCES else {}

    subs = await eventually(complete)
    await syncs_done(svc)  # the job still holds the team's lock for a moment after the last subscription is saved
    return subs


async def holder_of(svc: Service, team_id: str = TEAM) -> str | None:
    raw = await svc.redis.hget(keys.webhook_team(team_id), "holder")
    return raw.decode() if raw else None


async def connect_another(svc: Service, rep_email: str, team_id: str = TEAM) -> None:
    """Connect one more rep of a team that already holds its set, and wait for its sync job to run."""
    status, page = await svc.connect(team_id, rep_email)
    assert status == 200, page
    await syncs_done(svc)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(svc: Service, body: bytes | dict[str, Any], sub: Subscription | None = None, *,
                  webhook_id: str | None = None, secret: str | None = None, event_id: str | None = "new",
                  signature: str | None = None, base_url: str | None = None) -> tuple[int, Any]:
    """POST a delivery to our endpoint (or another instance's, `base_url`) the way Outreach does (hex HMAC of
    the raw body)."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/vnd.api+json", "Outreach-Org-Id": str(uuid.uuid4())}
    hook_id = webhook_id if webhook_id is not None else (sub.webhook_id if sub else "")
    if hook_id:
        headers["Outreach-Webhook-Id"] = hook_id
    if event_id is not None:
        headers["Outreach-Webhook-Event-Id"] = str(uuid.uuid4()) if event_id == "new" else event_id
    key = secret if secret is not None else (sub.secret if sub else "")
    if signature is None:
        signature = sign(key, raw)
    if signature:
        headers["Outreach-Webhook-Signature"] = signature
    async with svc.http.post(f"{base_url or svc.base_url}/v1/outreach/webhooks", data=raw,
                             headers=headers) as response:
        answer = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, answer


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def delivered_at(seconds_ago: float) -> str:
    """A `meta.deliveredAt` as Outreach writes it (milliseconds, an offset), `seconds_ago` before now."""
    moment = datetime.now(timezone(timedelta(hours=-7))) - timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="milliseconds")


def fresh(recorded: bytes) -> bytes:
    """A recorded delivery as if Outreach sent it now (ingress refuses a `deliveredAt` over an hour old)."""
    document = orjson.loads(recorded)
    document["meta"]["deliveredAt"] = delivered_at(0)
    return orjson.dumps(document)


# Cron jobs keep their in-progress key until it expires: not ours.
OUR_JOBS = (jobs.WEBHOOK_CHANGE_PREFIX, jobs.RECONCILED_CHANGE_PREFIX, jobs.SYNC_SUBSCRIPTIONS_PREFIX)


async def _running(svc: Service) -> list[bytes]:
    return [k async for k in svc.redis.scan_iter(match=keys.ARQ_IN_PROGRESS + "*")
            if k.decode()[len(keys.ARQ_IN_PROGRESS):].startswith(OUR_JOBS)]


async def worker_idle(svc: Service, *, settle: float = 0.2, timeout: float = 15.0) -> None:
    """Wait until the queue is empty (ignoring deferred jobs further than `settle` away) and nothing runs."""
    deadline = time.monotonic() + timeout
    while True:
        due = await svc.redis.zcount(keys.QUEUE, 0, int((time.time() + settle) * 1000))
        running = await _running(svc)
        if not due and not running:
            await asyncio.sleep(settle)
            due = await svc.redis.zcount(keys.QUEUE, 0, int((time.time() + settle) * 1000))
            running = await _running(svc)
            if not due and not running:
                return
        if time.monotonic() > deadline:
            queued = await svc.redis.zrange(keys.QUEUE, 0, -1, withscores=True)
            raise AssertionError(f"worker did not become idle: queued={queued} running={running}")
        await asyncio.sleep(0.05)


async def syncs_done(svc: Service, timeout: float = 30.0) -> None:
    """Wait until no subscription sync is queued or running, including one deferred because the team was busy
    (`worker_idle` ignores jobs deferred by seconds): a test that then changes the team's set by hand must not
    meet a late sync."""
    async def done() -> bool:
        queued = [m for m in await svc.redis.zrange(keys.QUEUE, 0, -1)
                  if m.decode().startswith(jobs.SYNC_SUBSCRIPTIONS_PREFIX)]
        running = [k for k in await _running(svc)
                   if k.decode()[len(keys.ARQ_IN_PROGRESS):].startswith(jobs.SYNC_SUBSCRIPTIONS_PREFIX)]
        return not queued and not running

    await eventually(done, timeout=timeout)
    await worker_idle(svc)


async def settle(svc: Service) -> None:
    """Every sandbox delivery made and every job it queued run."""
    await svc.sandbox.wait_deliveries()
    await worker_idle(svc)


@asynccontextmanager
async def services_for(svc: Service) -> AsyncIterator[dict[str, Any]]:
    """A worker-style ctx with its own Services, to run a cron function on demand."""
    services = Services.open(svc.settings)
    try:
        yield {"services": services}
    finally:
        await services.close()
