"""The service as a whole, for the worker, end-to-end and scale benchmarks: Redis, the sandbox, web and
workers as subprocesses, reps connected through the real OAuth dance over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import aiohttp
import orjson
from redis.asyncio import Redis

from bench.events import TEAM, Org, events
from bench.procs import API_TOKEN, Cluster, Proc
from sandbox.client import SandboxControl
from schemas.events import CallCompletedEvent
from store import keys
from store.job_queue import JobWriter
from store.queue import EventQueue
from store.telemetry import Telemetry
from tools.embedded_redis import free_port


class Stack:
    def __init__(self, cluster: Cluster, worker_env: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.worker_env = worker_env or {}
        self.sandbox_proc: Proc | None = None
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.web_port = free_port()
        self.redis: Redis | None = None
        self.sandbox: SandboxControl | None = None
        self.http: aiohttp.ClientSession | None = None
        self.org: Org | None = None

    # --- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.sandbox_proc = self.cluster.start_sandbox()
        self.web = self.cluster.start_web(self.env())
        assert self.cluster.redis is not None
        self.redis = Redis.from_url(self.cluster.redis.url)
        # No keep-alive: a connection idle past uvicorn's 5 s keep-alive can be reused just as the server closes
        # it ("Server disconnected"); new loopback connections cost nothing here.
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, force_close=True))
        self.sandbox = SandboxControl(f"http://127.0.0.1:{self.sandbox_proc.port}", session=self.http)

    async def close(self) -> None:
        for worker in self.workers:
            self.cluster.stop(worker)
        self.workers.clear()
        if self.sandbox is not None:
            # The sandbox is as strict as Outreach's OpenAPI: a request it refused would fail in production.
            state = await self.sandbox.state()
            total = sum(n for route, n in state["request_counts"].items() if route.split(" ")[1].startswith("/api"))
            refused = state["refusals"]
            print(f"sandbox: {total:,} Outreach requests, refused: {refused or 'none'} (4xx other than 401/429)",
                  flush=True)
        if self.http is not None:
            await self.http.close()
        if self.redis is not None:
            await self.redis.aclose()

    def env(self, **extra: str) -> dict[str, str]:
        assert self.sandbox_proc is not None and self.sandbox_proc.port is not None
        return self.cluster.service_env(self.web_port, self.sandbox_proc.port, **{**self.worker_env, **extra})

    def start_workers(self, count: int, **extra: str) -> list[Proc]:
        started = [self.cluster.start_worker(self.env(**extra), role=f"worker{n}") for n in range(count)]
        self.workers.extend(started)
        return started

    def stop_workers(self) -> None:
        for worker in self.workers:
            self.cluster.stop(worker)
        self.workers.clear()

    # --- the org --------------------------------------------------------------------------------------
    async def seed(self, org: Org) -> None:
        """A fresh bench org in the sandbox (calls gone, tasks incomplete again; tokens stay valid)."""
        assert self.sandbox is not None
        await self.sandbox.seed(demo=True, reps=org.reps, prospects_per_rep=org.prospects_per_rep)
        self.org = org

    async def connect_reps(self, org: Org, *, concurrency: int = 8, budget_s: float = 120.0) -> float:
        """The OAuth dance for each rep, over HTTP, bounded in time; returns seconds taken."""
        started = time.monotonic()
        deadline = started + budget_s
        todo = list(range(1, org.reps + 1))
        failures: list[str] = []

        async def one(rep: int) -> None:
            email = org.rep_email(rep)
            status = await self._connect(email)
            if status != 200:
                failures.append(f"{email}: {status}")

        async def lane() -> None:
            while todo and time.monotonic() < deadline:
                await one(todo.pop())

        await asyncio.gather(*[lane() for _ in range(concurrency)])
        if todo or failures:
            raise RuntimeError(f"could not connect every rep: {len(todo)} left, failures {failures[:5]}")
        return time.monotonic() - started

    async def _connect(self, email: str) -> int:
        assert self.http is not None
        base = f"http://127.0.0.1:{self.web_port}"
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with self.http.post(f"{base}/v1/teams/{TEAM}/reps/{email}/connect-link", headers=headers) as r:
            link = (await r.json())["url"]
        async with self.http.get(link, allow_redirects=False) as r:
            authorize = r.headers["Location"]
            browser = {"Cookie": "; ".join(f"{k}={m.value}" for k, m in r.cookies.items())}  # as the rep's browser
        async with self.http.get(_with_query(authorize, {"login_email": email}), allow_redirects=False) as r:
            callback = r.headers["Location"]
        async with self.http.get(callback, allow_redirects=False, headers=browser) as r:
            await r.read()
            return r.status

    async def faults(self, **knobs: Any) -> None:
        assert self.sandbox is not None
        await self.sandbox.faults(**knobs)

    # --- events and progress --------------------------------------------------------------------------
    async def enqueue(self, batch: list[dict[str, object]], concurrency: int = 500) -> float:
        """Straight into the queue through store.queue.EventQueue.accept, with the same job arguments as ingress
        writes (ingress is measured elsewhere)."""
        assert self.redis is not None
        queue = EventQueue(self.redis, JobWriter(self.redis))
        calls = {}
        for e in batch:
            data = CallCompletedEvent.model_validate(e).data
            calls[str(e["id"])] = (data.team_id, data.call_id, data.rep_email)
        started = time.monotonic()
        for start in range(0, len(batch), concurrency):
            chunk = batch[start:start + concurrency]
            await asyncio.gather(*[queue.accept(str(e["id"]), orjson.dumps(e), call=calls[str(e["id"])])
                                   for e in chunk])
        return time.monotonic() - started

    async def stats(self) -> dict[str, int]:
        assert self.redis is not None
        return await Telemetry(self.redis).totals()

    async def wait_logged(self, target: int, *, timeout: float, stall: float = 30.0) -> tuple[bool, float]:
        """Wait until `calls_logged` reaches target (bounded by timeout, and by `stall` s without progress)."""
        started = time.monotonic()
        last, last_change = -1, started
        while True:
            done = (await self.stats()).get("calls_logged", 0)
            now = time.monotonic()
            if done >= target:
                return True, now - started
            if done != last:
                last, last_change = done, now
            if now - started > timeout or now - last_change > stall:
                return False, now - started
            await asyncio.sleep(0.05)

    async def idle(self, timeout: float) -> bool:
        """Wait (bounded) until no job is due in the queue: a measurement starts from a quiet worker."""
        assert self.redis is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.redis.zcount(keys.QUEUE, "-inf", int(time.time() * 1000) + 5000) == 0:
                return True
            await asyncio.sleep(0.2)
        return False

    async def reset_counters(self) -> None:
        assert self.redis is not None
        await self.redis.delete(keys.STATS)

    async def calls(self) -> list[dict[str, Any]]:
        assert self.sandbox is not None
        return await self.sandbox.records("call")

    async def requests(self) -> list[dict[str, Any]]:
        assert self.sandbox is not None
        return await self.sandbox.requests()

    async def clear_requests(self) -> None:
        assert self.sandbox is not None
        await self.sandbox.clear_requests()

    def batch(self, count: int, tag: str, *, with_task: bool = True) -> list[dict[str, object]]:
        assert self.org is not None
        return events(self.org, count, with_task=with_task, tag=tag)


def iso_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def created_span(calls: list[dict[str, Any]]) -> float:
    stamps = sorted(iso_ts(c["attributes"]["createdAt"]) for c in calls)
    return stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0


def sequential_rounds(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Round trips on the critical path of one call, from the sandbox request log (start = at - ms).

    Requests that start before the previous round has finished overlap it: they are the same round.
    """
    spans = sorted((iso_ts(r["at"]) - r["ms"] / 1000, iso_ts(r["at"]), r["method"], r["path"]) for r in requests)
    rounds: list[list[tuple[float, float, str, str]]] = []
    round_end = -1.0
    for span in spans:
        if not rounds or span[0] >= round_end - 0.002:
            rounds.append([span])
            round_end = span[1]
        else:
            rounds[-1].append(span)
            round_end = max(round_end, span[1])
    until_call = next((n + 1 for n, group in enumerate(rounds)
                       if any(m == "POST" and p.endswith("/calls") for _, _, m, p in group)), len(rounds))
    return {"rounds": len(rounds), "rounds_until_call_created": until_call, "requests": len(spans),
            "detail": [[f"{m} {p}" for _, _, m, p in group] for group in rounds]}


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(extra)
    return urlunparse(parts._replace(query=urlencode(query)))
