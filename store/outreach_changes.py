"""Outreach changes on their way to the dialer: the webhook inbox (dedupe + arq job in one Lua call), the
per-change notification claims shared by webhooks and reconciliation, reconciliation cursors, and notify URLs
that answered 410. Everything here is ids, hashes, timestamps and counters (docs/outreach-webhooks.md).
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from store import jobs, keys
from store.job_queue import JobWriter

SEEN_TTL_SECONDS = 7 * 24 * 3600
CLAIM_TTL_SECONDS = 7 * 24 * 3600

# KEYS: claim. ARGV: job id, ttl. 1 when this job owns the change (first claim, or its own retry).
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if holder == ARGV[1] then return 1 end
return 0
"""


class OutreachInbox:
    def __init__(self, redis: Redis, writer: JobWriter) -> None:
        self._redis = redis
        self._jobs = writer
        self._claim = redis.register_script(_CLAIM)

    async def accept(self, team_id: str, event_id: str, change: dict[str, Any] | None, body_mac: str = "") -> bool:
        """One round trip: dedupe the event id and the signed body (`body_mac`: its HMAC under the subscription's
        secret, so one body delivered to two subscriptions is two deliveries), then queue
        `outreach_change(change)`. False for a repeat of either: the event id is an unsigned header, so a captured
        body re-sent with a fresh one is still a repeat."""
        job_id = jobs.webhook_change_id(team_id, event_id) if change is not None else ""
        body_seen = keys.outreach_body_seen(team_id, body_mac) if body_mac else ""
        return await self._jobs.accept_once(keys.outreach_seen(team_id, event_id), SEEN_TTL_SECONDS,
                                            jobs.OUTREACH_CHANGE, [change], job_id, also_seen=body_seen)

    async def queue_reconciled(self, change_key: str, change: dict[str, Any]) -> bool:
        """Queue `outreach_change(change)` for a change reconciliation found, unless it is already queued."""
        return await self._jobs.enqueue(jobs.reconciled_change_id(change_key), jobs.OUTREACH_CHANGE, [change],
                                        only_new=True)

    async def queue_subscription_sync(self, team_id: str, rep_email: str) -> bool:
        """Queue `sync_subscriptions` for a rep who just connected."""
        job_id = jobs.sync_subscriptions_id(team_id, rep_email, int(time.time() * 1000))
        return await self._jobs.enqueue(job_id, jobs.SYNC_SUBSCRIPTIONS, [team_id, rep_email], only_new=True)

    async def claim(self, change_key: str, job_id: str) -> bool:
        """True when `job_id` is the one to notify the dialer of this change."""
        return bool(await self._claim(keys=[keys.change_claim(change_key)], args=[job_id, CLAIM_TTL_SECONDS]))

    async def claimed(self, change_key: str) -> bool:
        return bool(await self._redis.exists(keys.change_claim(change_key)))

    async def cursors(self, team_id: str, rep_email: str) -> dict[str, str]:
        raw = await self._redis.hgetall(keys.reconcile_cursor(team_id, rep_email))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def set_cursor(self, team_id: str, rep_email: str, resource: str, cursor: str) -> None:
        await self._redis.hset(keys.reconcile_cursor(team_id, rep_email), resource, cursor)

    async def forget_rep(self, team_id: str, rep_email: str) -> None:
        await self._redis.delete(keys.reconcile_cursor(team_id, rep_email))

    async def mark_gone(self, url: str) -> None:
        await self._redis.hset(keys.NOTIFY_GONE, url, str(int(time.time())))

    async def is_gone(self, url: str) -> bool:
        return bool(await self._redis.hexists(keys.NOTIFY_GONE, url))

