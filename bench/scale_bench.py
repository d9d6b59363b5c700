"""`python -m bench --scale`: the service at the size of a large deployment, beside a small one in the same run.

The org in the sandbox has 100,000 Outreach users (demo 3 + bench reps 10 + 99,987 seeded through the control
API). `team_bench`'s directory is filled by its first rep's real OAuth connect (the full read); `team_small`'s
100 users are written through the real store code. Figures, each beside its same-run baseline:

- per notification (the worker's notify path, run in this process against the real Redis and an HTTP receiver):
  CPU and Redis bytes read, for the 100,000-user team and the 100-user team;
- Outreach requests of a team's first connect (the whole directory) and of a rep's reconnect (a sample of known
  users, one read);
- `/ops` and `/ops/api/summary` p50/p95 on the small deployment, at 50 teams x 200 reps (seeded through the real
  stores: connections, User Mapping, each team's holder and subscriptions), and with 10,000 dead letters more;
- Redis memory per connected rep (the seeded deployment's growth) and per queued event (accepted by ingress);
- worker (calls logged/s, Outreach at 0 ms) and ingest (202s/s) throughput, small deployment vs at size.

The seeded reps hold encrypted tokens the sandbox never issued: nothing in the run calls Outreach for them but the
5-minutely subscription repair (which then marks a team's holder as needing a reconnect). Webhook deliveries are
dropped in the sandbox and workers run without a notify URL, so throughput is about logging calls.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from bench.events import TEAM, Org, write_requests
from bench.loadgen import run_python
from bench.procs import TOKEN_KEY, Cluster, measured, measured_async
from bench.service_bench import NO_LIMIT, pct
from bench.stack import Stack, created_span
from bench.webhook_bench import NOTIFY_SECRET, Receiver
from runtime.services import Services
from schemas.connection import OutreachUser, TokenSet
from schemas.ops import DeadLetter
from schemas.outreach_webhooks import SUBSCRIBED_RESOURCES, ReducedChange
from schemas.settings import Settings
from store import keys
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.dead_letters import DeadLetters
from store.job_queue import JobWriter
from store.queue import EventQueue
from store.subscriptions import Subscription, SubscriptionStore
from store.users import UserDirectory
from store.webhook_holders import HolderStore
from workers.outreach_changes import Notifier

BIG_USERS = 100_000
SMALL_USERS = 100
SMALL_TEAM = "team_small"
TEAMS, REPS_PER_TEAM, USERS_PER_TEAM = 50, 200, 250
DEAD_LETTERS = 10_000
SCOPES = ["users.all", "calls.all", "prospects.all", "tasks.all", "webhooks.all", "callDispositions.all",
          "phoneNumbers.all", "sequences.all", "sequenceStates.all", "sequenceSteps.all"]
OPS_USER, OPS_PASSWORD = "ops", secrets.token_urlsafe(16)
REASONS = ("prospect not found in Outreach", "Outreach refused the call (422 validationError /data/attributes/to)",
           "task 404", "rep not mapped", "Outreach refused the call (403 unauthorizedOauthScope)")


class ScaleBench:
    def __init__(self, cluster: Cluster, quick: bool, log: Any) -> None:
        self.cluster, self.log = cluster, log
        self.org = Org(10, 200)  # the reps that log calls: team_bench, connected for real
        self.stack = Stack(cluster, worker_env={"OPS_USERNAME": OPS_USER, "OPS_PASSWORD": OPS_PASSWORD})
        self.receiver = Receiver()
        self.samples = 20 if quick else 40
        self.events = 800 if quick else 1500
        self.ingest_s = 2.0 if quick else 4.0
        self.dir = Path(tempfile.mkdtemp(prefix="nooks-bench-scale-"))

    @property
    def redis(self) -> Redis:
        assert self.stack.redis is not None
        return self.stack.redis

    async def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        await self.receiver.start()
        await self.stack.start()
        try:
            await self.seed_sandbox()
            await self.stack.faults(delivery_drop_rate=1.0, **NO_LIMIT)
            out["connect"] = await self.connects()
            await self.small_team()
            self.stack.start_workers(1)
            out["small"] = await self.deployment_figures("small deployment")
            out["memory_per_rep_bytes"] = await self.seed_deployment()
            out["large"] = await self.deployment_figures(f"{TEAMS} teams x {REPS_PER_TEAM} reps")
            await self.seed_dead_letters()
            out["large_dead"] = {"ops": await self.ops_latency(f"+ {DEAD_LETTERS:,} dead letters", filtered=True)}
            self.stack.stop_workers()
            out["notify"] = await self.notifications()
        finally:
            await self.stack.close()
            await self.receiver.stop()
        return out

    # --- the org and the teams --------------------------------------------------------------------------
    async def seed_sandbox(self) -> None:
        assert self.stack.sandbox is not None
        started = time.monotonic()
        await self.stack.sandbox.seed(demo=True, reps=self.org.reps, prospects_per_rep=self.org.prospects_per_rep,
                                      users=BIG_USERS - 3 - self.org.reps)
        self.stack.org = self.org
        self.log(f"  sandbox org: {BIG_USERS:,} users seeded in {time.monotonic() - started:.1f} s")

    async def outreach_requests(self) -> dict[str, int]:
        requests = [r for r in await self.stack.requests() if r["path"].startswith("/api/v2")]
        return {"requests": len(requests), "user_reads": sum(r["path"] == "/api/v2/users" for r in requests)}

    async def connects(self) -> dict[str, Any]:
        """The team's first connect reads the whole directory; every later one only what changed since."""
        await self.stack.clear_requests()
        started = time.monotonic()
        if await self.stack._connect(self.org.rep_email(1)) != 200:
            raise RuntimeError("the first rep could not connect")
        first = {**await self.outreach_requests(), "seconds": round(time.monotonic() - started, 1)}
        users = await UserDirectory(self.redis).user_count(TEAM)
        await self.stack.connect_reps(Org(self.org.reps, 1))  # the other reps (rep 1 again too)
        await self.stack.idle(timeout=60)
        await self.stack.clear_requests()
        started = time.monotonic()
        if await self.stack._connect(self.org.rep_email(1)) != 200:
            raise RuntimeError("the reconnect failed")
        again = {**await self.outreach_requests(), "seconds": round(time.monotonic() - started, 2)}
        self.log(f"  first connect of a {users:,}-user org: {first['requests']} Outreach requests "
                 f"({first['user_reads']} user pages) in {first['seconds']} s; a reconnect: {again['requests']} "
                 f"requests ({again['user_reads']} user read)")
        return {"users": users, "first": first, "reconnect": again}

    async def small_team(self) -> None:
        directory = UserDirectory(self.redis)
        users = [OutreachUser(id=50_000 + i, email=f"u{i}@small.example", name=f"U {i}") for i in range(SMALL_USERS)]
        await directory.upsert_users(SMALL_TEAM, users)
        for rep in range(1, self.org.reps + 1):
            await directory.map_rep(SMALL_TEAM, f"rep{rep}@small.example", 50_000 + rep)

    async def seed_deployment(self) -> float:
        """50 teams x 200 reps through the real stores; answers Redis bytes per connected rep."""
        cipher = TokenCipher([TOKEN_KEY])
        connections, directory = ConnectionStore(self.redis, cipher), UserDirectory(self.redis)
        subscriptions, holders = SubscriptionStore(self.redis, cipher), HolderStore(self.redis)
        before = await self.used_memory()
        started = time.monotonic()
        for team in range(TEAMS):
            team_id = f"team_{team:03d}"
            base = 200_000 + team * USERS_PER_TEAM
            reps = [f"rep{rep}@t{team:03d}.example" for rep in range(REPS_PER_TEAM)]
            tokens = TokenSet(access_token=secrets.token_urlsafe(32), refresh_token=secrets.token_urlsafe(32),
                              expires_at=time.time() + 3600, scopes=SCOPES)
            await asyncio.gather(*(connections.save_tokens(team_id, rep, tokens) for rep in reps))
            await asyncio.gather(*(directory.map_rep(team_id, rep, base + n) for n, rep in enumerate(reps)))
            await directory.upsert_users(team_id, [OutreachUser(id=base + n, email=f"user{n}@t{team:03d}.example",
                                                                name=f"User {n}") for n in range(USERS_PER_TEAM)])
            await holders.swap(team_id, None, reps[0])
            for n, resource in enumerate(SUBSCRIBED_RESOURCES):
                await subscriptions.save(Subscription(webhook_id=str(900_000 + team * 10 + n), team_id=team_id,
                                                      rep_email=reps[0], resource=resource,
                                                      secret=secrets.token_hex(32)))
        per_rep = (await self.used_memory() - before) / (TEAMS * REPS_PER_TEAM)
        self.log(f"  seeded {TEAMS} teams x {REPS_PER_TEAM} reps ({USERS_PER_TEAM} users each) in "
                 f"{time.monotonic() - started:.1f} s: {per_rep:,.0f} bytes of Redis per connected rep "
                 f"(connection, mapping, indexes, its share of the team's directory and subscriptions)")
        return round(per_rep)

    async def seed_dead_letters(self) -> None:
        letters = DeadLetters(self.redis, EventQueue(self.redis, JobWriter(self.redis)))
        now = int(time.time())
        for start in range(0, DEAD_LETTERS, 500):
            await asyncio.gather(*(letters.add(DeadLetter(
                event_id=f"evt_dead_{n}", call_id=f"call_dead_{n}", team_id=f"team_{n % TEAMS:03d}",
                rep_email=f"rep{n % REPS_PER_TEAM}@t{n % TEAMS:03d}.example", reason=REASONS[n % len(REASONS)],
                attempts=1, dead_at=now - n)) for n in range(start, min(start + 500, DEAD_LETTERS))))

    async def used_memory(self) -> int:
        return int((await self.redis.info("memory"))["used_memory"])

    # --- figures at one size ----------------------------------------------------------------------------
    async def deployment_figures(self, label: str) -> dict[str, Any]:
        return {"ops": await self.ops_latency(label), "worker": await self.worker_rate(label),
                **await self.ingest(label)}

    async def ops_latency(self, label: str, *, filtered: bool = False) -> dict[str, Any]:
        assert self.stack.http is not None
        base = f"http://127.0.0.1:{self.stack.web_port}"
        paths = {"/ops": "/ops", "/ops/api/summary": "/ops/api/summary"}
        if filtered:
            paths["dead letters, one reason and team"] = (f"/ops/api/dead-letters?reason={REASONS[0]}"
                                                          "&team_id=team_005")
            paths["/ops, dead letters of one rep"] = "/ops?rep_email=rep5@t005.example"
        out = {}
        for name, path in paths.items():
            timings = []
            for _ in range(self.samples):
                started = time.perf_counter()
                async with self.stack.http.get(base + path, auth=aiohttp.BasicAuth(OPS_USER, OPS_PASSWORD)) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"{path} answered {answer.status}")
                timings.append((time.perf_counter() - started) * 1000)
            out[name] = {"p50_ms": round(pct(timings, 50), 1), "p95_ms": round(pct(timings, 95), 1)}
        self.log(f"  {label}: " + "; ".join(f"{n} p50 {v['p50_ms']} ms p95 {v['p95_ms']} ms" for n, v in out.items()))
        return out

    async def worker_rate(self, label: str) -> dict[str, Any]:
        """Calls logged per second by one worker, Outreach at 0 ms, from the calls' creation times in the sandbox,
        and the worker's CPU per call; on a quiet machine, the least disturbed of up to 3 attempts."""
        self.cluster.phase = "size-worker"
        result = await measured_async(self.cluster, self._drain, 3)
        self.log(f"  {label}: worker {result['calls_per_s']:.0f} calls/s, {result['cpu_ms_per_call']:.2f} CPU ms per "
                 f"call (disturbance {result['disturbance']:.2f})")
        return result

    async def _drain(self) -> dict[str, Any]:
        await self.seed_sandbox()
        await self.stack.idle(timeout=60)
        await self.stack.reset_counters()
        tag = f"s{int(time.time() * 10) % 10**7}-"
        cpu0 = sum(worker.cpu_seconds() for worker in self.stack.workers)
        await self.stack.enqueue(self.stack.batch(self.events, tag))
        ok, _ = await self.stack.wait_logged(self.events, timeout=180)
        cpu = sum(worker.cpu_seconds() for worker in self.stack.workers) - cpu0
        if not ok:
            raise RuntimeError(f"the worker did not log {self.events} calls")
        calls = await self.stack.calls()
        span = created_span(calls)
        return {"calls_per_s": round((len(calls) - 1) / span, 1) if span > 0 else 0.0, "events": self.events,
                "cpu_ms_per_call": round(cpu * 1000 / self.events, 3)}

    async def ingest(self, label: str) -> dict[str, Any]:
        """Signed events → 202 for a few seconds (workers stopped meanwhile), and Redis bytes per queued event; on
        a quiet machine, the least disturbed of up to 3 attempts. What was queued is then dropped (this is about
        ingress)."""
        self.stack.stop_workers()
        assert self.cluster.redis is not None
        sync = SyncRedis.from_url(self.cluster.redis.url)

        def once() -> dict[str, Any]:
            requests = write_requests(self.dir / "requests.bin", Org(10, 2000), 40_000,
                                      tag=f"g{int(time.time() * 1000) % 10**7}")
            before, depth0 = int(sync.info("memory")["used_memory"]), int(sync.zcard(keys.QUEUE))
            result = run_python(self.stack.web_port, requests, duration=self.ingest_s, connections=64)
            queued = int(sync.zcard(keys.QUEUE)) - depth0
            result["memory_per_queued_event_bytes"] = round(
                (int(sync.info("memory")["used_memory"]) - before) / max(queued, 1))
            return result

        self.cluster.phase = "size-ingest"
        try:
            result = await asyncio.to_thread(measured, self.cluster, once, 3)
        finally:
            sync.close()
        await self.drop_queued()
        self.stack.start_workers(1)
        self.log(f"  {label}: ingest {result['rate']:,.0f} events/s accepted, p99 {result['latency_ms']['p99']:.1f}"
                 f" ms (disturbance {result['disturbance']:.2f}); {result['memory_per_queued_event_bytes']:,} bytes "
                 "of Redis per queued event")
        return {"ingest": {"per_s": round(result["rate"], 1), "p99_ms": result["latency_ms"]["p99"],
                           "disturbance": result["disturbance"]},
                "memory_per_queued_event_bytes": result["memory_per_queued_event_bytes"]}

    async def drop_queued(self) -> None:
        await self.redis.delete(keys.QUEUE)
        for pattern in (keys.ARQ_JOB + "*", keys.event("*")):
            batch = [key async for key in self.redis.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(batch), 1000):
                await self.redis.delete(*batch[start:start + 1000])

    # --- per notification ---------------------------------------------------------------------------------
    async def notifications(self, count: int = 400, rounds: int = 3) -> dict[str, Any]:
        """The notify path (claim, reps of the owner, signed POST) for a change owned by a mapped user, in this
        process: CPU (the receiver's share included, alike for both) and Redis bytes sent to clients, alternating
        the two teams in rounds; the directory the earlier code read per notification is shown beside them."""
        os.environ.update(self.stack.env(NOOKS_NOTIFY_URL=self.receiver.url, NOOKS_NOTIFY_SECRET=NOTIFY_SECRET))
        services = Services.open(Settings())  # type: ignore[call-arg]
        notifier = Notifier(services)
        teams = {"big": (TEAM, 1001), "small": (SMALL_TEAM, 50_001)}
        names = {"big": f"{BIG_USERS:,}-user org", "small": f"{SMALL_USERS}-user org"}
        totals = {name: [0.0, 0] for name in teams}
        try:
            for _ in range(rounds):
                for name, (team_id, owner) in teams.items():
                    changes = [_change(team_id, owner) for _ in range(count)]
                    bytes0 = await self.output_bytes()
                    cpu0 = time.process_time()
                    for change in changes:
                        result = await notifier.notify(change, change.event_id, 1)
                        if result["status"] != "sent":
                            raise RuntimeError(f"notification not sent: {result}")
                    totals[name][0] += time.process_time() - cpu0
                    totals[name][1] += await self.output_bytes() - bytes0
        finally:
            await services.close()
        raw: dict[bytes, bytes] = await self.redis.hgetall(keys.users(TEAM))  # type: ignore[misc]
        directory = sum(len(k) + len(v) for k, v in raw.items())
        out: dict[str, Any] = {"notifications": count * rounds, "directory_bytes_big_team": directory}
        for name, (cpu, sent) in totals.items():
            out[name] = {"cpu_ms": round(cpu * 1000 / (count * rounds), 3),
                         "redis_bytes_read": round(sent / (count * rounds))}
            self.log(f"  per notification, {names[name]}: {out[name]['cpu_ms']:.3f} CPU ms, "
                     f"{out[name]['redis_bytes_read']:,} bytes read from Redis")
        self.log(f"  (the whole directory of the 100,000-user team, read per notification before: {directory:,} bytes)")
        return out

    async def output_bytes(self) -> int:
        return int((await self.redis.info("stats"))["total_net_output_bytes"])


def _change(team_id: str, owner: int) -> ReducedChange:
    key = secrets.token_hex(20)
    return ReducedChange(event_id=f"scale-{key[:12]}", event="task.updated", resource="task", action="updated",
                         resource_id=1122, related={"owner": owner, "prospect": 3456}, changed=["state"],
                         change_key=key, team_id=team_id, rep_email="rep1@bench.example")
