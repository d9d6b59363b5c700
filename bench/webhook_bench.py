"""5. Webhook ingress per Outreach change, for one team of 1 and of 50 connected reps.

Outreach delivers a change once per subscription whose authorizer may read the record. The team holds one set
of subscriptions, so a change should cost one delivery whatever the team's size. Measured in the same run:
- 1 rep, one set (the baseline);
- 50 reps, one set (the service as it is);
- 50 reps holding a set each (the layout of older versions, rebuilt here: 250 subscriptions), then one repair
  run (a `sync_subscriptions` job), which must bring the team back to one set.
For each: deliveries, notifications, and the CPU of web, worker, Redis and the sandbox (which sends the
deliveries), per change. Changes are prospect title updates made through the sandbox's control API.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from bench.events import TEAM, Org
from bench.procs import TOKEN_KEY, Cluster, Proc, cpu_seconds, measured_async
from bench.stack import Stack
from schemas.outreach_webhooks import SUBSCRIBED_RESOURCES
from schemas.times import outreach_time
from store import keys
from store.crypto import TokenCipher
from store.job_queue import JobWriter
from store.outreach_changes import OutreachInbox
from store.subscriptions import Subscription, SubscriptionStore
from store.telemetry import Telemetry
from store.webhook_holders import HolderStore

REPS = 50
NOTIFY_SECRET = "whsec_" + "YmVuY2gtbm90aWZ5LXNlY3JldC0zMi1ieXRlcy1sb25nIQ=="


class Receiver:
    """The dialer's endpoint: counts notifications."""

    def __init__(self) -> None:
        self.count = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/notify", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/notify"

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        return web.Response(status=204)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class WebhookBench:
    def __init__(self, cluster: Cluster, quick: bool, log: Any) -> None:
        self.cluster, self.quick, self.log = cluster, quick, log
        self.changes = 100 if quick else 150
        # At 50 deliveries per change (the per-rep layout) fewer changes: the sandbox logs the last 10,000
        # deliveries, and on this shared 2-core machine 7,500 jobs took over two minutes.
        self.legacy_changes = self.changes // 3
        self.org = Org(REPS, 2)
        self.receiver = Receiver()
        self.stack: Stack | None = None
        self.serial = 0
        self.last_ms = 0

    async def run(self) -> dict[str, Any]:
        await self.receiver.start()
        stack = self.stack = Stack(self.cluster, worker_env={"NOOKS_NOTIFY_URL": self.receiver.url,
                                                             "NOOKS_NOTIFY_SECRET": NOTIFY_SECRET})
        out: dict[str, Any] = {"changes": self.changes}
        try:
            await stack.start()
            await stack.seed(self.org)
            stack.start_workers(1)
            await self.connect(Org(1, self.org.prospects_per_rep))
            out["1"] = await self.measure("1 rep, one set", reps=1)
            await self.connect(self.org)
            out["50"] = await self.measure(f"{REPS} reps, one set", reps=REPS)
            await self.per_rep_sets()
            # The repair cron (every 5 minutes) would bring the layout back to one set in the middle of the
            # measurement: the team's lock, held here meanwhile, makes it pass the team by.
            assert stack.redis is not None
            await stack.redis.set(keys.webhook_team_lock(TEAM), "bench", px=600_000)
            out["50_per_rep"] = await self.measure(f"{REPS} reps, a set each (older versions)", reps=REPS,
                                                   changes=self.legacy_changes)
            await stack.redis.delete(keys.webhook_team_lock(TEAM))
            out["repair"] = await self.repair()
        finally:
            await stack.close()
            await self.receiver.stop()
        return out

    # --- set-up -----------------------------------------------------------------------------------------
    async def connect(self, org: Org) -> None:
        assert self.stack is not None
        took = await self.stack.connect_reps(org)
        webhooks = await self.wait_webhooks(len(SUBSCRIBED_RESOURCES))
        self.log(f"  webhooks: {org.reps} rep(s) connected in {took:.1f} s; {webhooks} subscriptions in the org")

    async def ours(self) -> list[dict[str, Any]]:
        assert self.stack is not None and self.stack.sandbox is not None
        target = f"http://127.0.0.1:{self.stack.web_port}/v1/outreach/webhooks"
        return [h for h in await self.stack.sandbox.records("webhook") if h["attributes"]["url"] == target]

    async def wait_webhooks(self, expected: int, timeout: float = 120.0) -> int:
        assert self.stack is not None
        deadline = time.monotonic() + timeout
        while True:
            await self.stack.idle(timeout=timeout)
            found = len(await self.ours())
            if found == expected or time.monotonic() > deadline:
                if found != expected:
                    raise RuntimeError(f"expected {expected} subscriptions in the org, found {found}")
                return found
            await asyncio.sleep(0.2)

    async def per_rep_sets(self) -> None:
        """The layout before one set per team: every rep's token holds five subscriptions, each stored here."""
        stack = self.stack
        assert stack is not None and stack.sandbox is not None and stack.redis is not None
        store = SubscriptionStore(stack.redis, TokenCipher([TOKEN_KEY]))
        target = f"http://127.0.0.1:{stack.web_port}/v1/outreach/webhooks"
        users = {u["attributes"]["email"]: int(u["id"]) for u in await stack.sandbox.records("user")}
        holder = await HolderStore(stack.redis).holder(TEAM)
        for rep in range(1, REPS + 1):
            email = self.org.rep_email(rep)
            if email == holder:
                continue
            for resource in SUBSCRIBED_RESOURCES:
                secret = secrets.token_hex(32)
                hook = await stack.sandbox.create("webhook", {"url": target, "resource": resource, "action": "*",
                                                              "secret": secret, "active": True},
                                                  {"authorizer": users[email], "creator": users[email],
                                                   "updater": users[email]})
                await store.save(Subscription(webhook_id=str(hook["id"]), team_id=TEAM, rep_email=email,
                                              resource=resource, secret=secret))
        self.log(f"  webhooks: per-rep sets rebuilt, {len(await self.ours())} subscriptions in the org")

    # --- measurements -----------------------------------------------------------------------------------
    async def measure(self, label: str, *, reps: int, changes: int | None = None) -> dict[str, Any]:
        self.cluster.phase = "webhooks"
        result = await measured_async(self.cluster, lambda: self._measure(reps, changes or self.changes),
                                      2 if self.quick else 3)
        self.log(f"  webhooks, {label}: {result['deliveries_per_change']:.2f} deliveries and "
                 f"{result['notifications_per_change']:.2f} notifications per change; web "
                 f"{result['web_cpu_ms_per_change']:.2f} ms, worker {result['worker_cpu_ms_per_change']:.2f} ms CPU "
                 f"per change")
        return result

    async def _measure(self, reps: int, changes: int) -> dict[str, Any]:
        stack = self.stack
        assert stack is not None and stack.sandbox is not None and stack.redis is not None and stack.web is not None
        await stack.idle(timeout=60)
        await stack.sandbox.clear_deliveries()
        await stack.reset_counters()
        self.receiver.count = 0
        procs: dict[str, Proc] = {"web": stack.web, "worker": stack.workers[0]}
        assert stack.sandbox_proc is not None and self.cluster.redis is not None
        procs["sandbox"] = stack.sandbox_proc
        cpu0 = {role: proc.cpu_seconds() for role, proc in procs.items()}
        redis0 = cpu_seconds(self.cluster.redis.process.pid)
        started = time.monotonic()
        for n in range(changes):
            rep = 1 + n % reps
            self.serial += 1
            # A change is (record, updatedAt): two updates within one millisecond would be one change, so each
            # gets a millisecond of its own.
            self.last_ms = max(int(time.time() * 1000), self.last_ms + 1)
            await stack.sandbox.update("prospect", self.org.prospect_id(rep, 1),
                                       {"title": f"Title {self.serial}", "updatedAt": outreach_time(
                                           datetime.fromtimestamp(self.last_ms / 1000, UTC))})
        complete = await self.settled(stack.redis, changes)
        elapsed = time.monotonic() - started
        cpu = {role: proc.cpu_seconds() - cpu0[role] for role, proc in procs.items()}
        cpu["redis"] = cpu_seconds(self.cluster.redis.process.pid) - redis0
        deliveries = await stack.sandbox.deliveries()
        statuses: dict[str, int] = {}
        for entry in deliveries:  # an HTTP status, or the error of a delivery that got none (e.g. "timeout")
            outcome = str(entry["status"] if entry["status"] is not None else entry["error"])
            statuses[outcome] = statuses.get(outcome, 0) + 1
        counters = await stack.stats()
        per = float(changes)
        return {
            "reps": reps, "changes": changes, "complete": complete, "elapsed_s": round(elapsed, 2),
            "subscriptions": len(await self.ours()), "delivery_statuses": statuses,
            "deliveries_per_change": round(len(deliveries) / per, 3),
            "notifications_per_change": round(self.receiver.count / per, 3),
            "duplicates_per_change": round(counters.get("notifications_duplicate", 0) / per, 3),
            **{f"{role}_cpu_ms_per_change": round(seconds * 1000 / per, 3) for role, seconds in cpu.items()},
        }

    async def settled(self, redis: Redis, changes: int, timeout: float = 300.0) -> bool:
        """Every delivery made, and every change job it queued run (notified, or found to be a duplicate)."""
        assert self.stack is not None and self.stack.sandbox is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            deliveries = await self.stack.sandbox.wait_deliveries(within=timeout)
            accepted = sum(1 for d in deliveries if d["status"] == 202)
            counters = await Telemetry(redis).totals()
            done = counters.get("notifications_sent", 0) + counters.get("notifications_duplicate", 0)
            if done >= accepted and self.receiver.count >= changes:
                return True
            await asyncio.sleep(0.1)
        return False

    async def repair(self) -> dict[str, Any]:
        """One repair run over the per-rep layout: back to one set (the others deleted in Outreach)."""
        stack = self.stack
        assert stack is not None and stack.redis is not None
        before = len(await self.ours())
        started = time.monotonic()
        await OutreachInbox(stack.redis, JobWriter(stack.redis)).queue_subscription_sync(TEAM, "")
        after = await self.wait_webhooks(len(SUBSCRIBED_RESOURCES))
        took = time.monotonic() - started
        self.log(f"  webhooks: a repair run took the org from {before} to {after} subscriptions in {took:.1f} s")
        return {"before": before, "after": after, "seconds": round(took, 2)}
