"""2-4. Worker throughput and CPU, end-to-end latency, and scale (processes, reps, a large backlog).

Outreach is the sandbox subprocess; webhook deliveries from it are switched off (`delivery_drop_rate` 1) so
that each figure is about logging calls, not about the change notifications a real Outreach would send.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import aiohttp
import orjson
import psutil

from bench.events import Org, sign_headers
from bench.noop_worker import QUEUE as NOOP_QUEUE
from bench.noop_worker import default
from bench.noop_worker import enqueue as enqueue_noop
from bench.procs import Cluster, cpu_seconds, measured_async, quiet
from bench.stack import Stack, created_span, iso_ts, sequential_rounds

NO_LIMIT = {"rate_limit": 10**9, "rate_window_s": 3600}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


class ServiceBench:
    def __init__(self, cluster: Cluster, quick: bool, log: Any) -> None:
        self.cluster, self.quick, self.log = cluster, quick, log
        self.stack = Stack(cluster)
        self.org = Org(10, 500)
        self.rounds: dict[str, Any] = {}
        self.attempts = 2 if quick else 3

    async def run(self, sections: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {name: default(f"worker_{name}") for name in ("max_jobs", "poll_delay",
                                                                            "queue_read_limit")}
        await self.stack.start()
        try:
            await self.stack.seed(self.org)
            took = await self.stack.connect_reps(self.org)
            self.log(f"  connected {self.org.reps} reps through OAuth in {took:.1f} s")
            await self.stack.faults(delivery_drop_rate=1.0, **NO_LIMIT)
            self.stack.start_workers(1)
            self.rounds = await self.measure_rounds()
            out["rounds"] = self.rounds
            self.log(f"  one call = {self.rounds['requests']} requests in {self.rounds['rounds']} sequential round "
                     f"trips ({self.rounds['rounds_until_call_created']} until the call exists)")
            if "worker" in sections:
                out["worker"] = await self.worker()
                out["noop"] = await self.noop()
            if "e2e" in sections:
                out["e2e"] = await self.e2e()
            if "scale" in sections:
                out["scale"] = await self.scale()
        finally:
            await self.stack.close()
        return out

    def sandbox_cpu(self) -> float:
        assert self.stack.sandbox_proc is not None
        return self.stack.sandbox_proc.cpu_seconds()

    def redis_cpu(self) -> float:
        assert self.cluster.redis is not None
        return cpu_seconds(self.cluster.redis.process.pid)

    # --- 2. worker ------------------------------------------------------------------------------------
    async def measure_rounds(self) -> dict[str, Any]:
        await self.stack.faults(latency_ms=50)
        await self.stack.clear_requests()
        await self.stack.reset_counters()
        await self.stack.enqueue(self.stack.batch(1, "rt"))
        ok, _ = await self.stack.wait_logged(1, timeout=20)
        if not ok:
            raise RuntimeError("a single call was not logged within 20 s")
        return sequential_rounds([r for r in await self.stack.requests() if r["path"].startswith("/api/v2")])

    async def drain(self, count: int, latency_ms: float, tag: str, *, org: Org | None = None,
                    timeout: float = 120.0, knobs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Queue `count` events for a running worker pool and measure until every one is logged."""
        serial = iter(range(100))
        self.cluster.phase = tag.rstrip("-")
        return await measured_async(
            self.cluster,
            lambda: self._drain(count, latency_ms, f"{tag}{next(serial)}-", org=org, timeout=timeout, knobs=knobs),
            self.attempts)

    async def _drain(self, count: int, latency_ms: float, tag: str, *, org: Org | None,
                     timeout: float, knobs: dict[str, Any] | None) -> dict[str, Any]:
        stack = self.stack
        await stack.seed(org or self.org)
        await stack.faults(latency_ms=latency_ms, **(knobs or NO_LIMIT))
        await stack.idle(timeout=90)  # e.g. webhook subscription syncs after many reps connected
        await stack.reset_counters()
        await stack.clear_requests()
        cpu0 = {w.role: w.cpu_seconds() for w in stack.workers}
        sandbox_cpu0, redis_cpu0 = self.sandbox_cpu(), self.redis_cpu()
        started = time.monotonic()
        enqueue_s = await stack.enqueue(stack.batch(count, tag))
        ok, elapsed = await stack.wait_logged(count, timeout=timeout)
        elapsed = time.monotonic() - started
        cpu = sum(w.cpu_seconds() - cpu0[w.role] for w in stack.workers)
        sandbox_cpu = self.sandbox_cpu() - sandbox_cpu0
        redis_cpu = self.redis_cpu() - redis_cpu0
        calls = await stack.calls()
        stats = await stack.stats()
        span = created_span(calls)
        logged = stats.get("calls_logged", 0)
        rate = (len(calls) - 1) / span if span > 0 else float("nan")
        return {"events": count, "latency_ms": latency_ms, "complete": ok, "logged": logged, "calls": len(calls),
                "workers": len(stack.workers), "elapsed_s": round(elapsed, 2), "enqueue_s": round(enqueue_s, 2),
                "calls_per_s": round(rate, 1), "calls_per_s_per_process": round(rate / len(stack.workers), 1),
                "cpu_ms_per_call": round(cpu * 1000 / max(logged, 1), 3),
                "sandbox_cpu_ms_per_call": round(sandbox_cpu * 1000 / max(logged, 1), 3),
                "redis_cpu_ms_per_call": round(redis_cpu * 1000 / max(logged, 1), 3),
                "duplicates": len(calls) - len({c["attributes"]["vendorCallId"] for c in calls}),
                "stats": stats}

    async def worker(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        latencies = (0, 100) if self.quick else (0, 50, 100, 200)
        count = 1200 if self.quick else 3000
        for latency in latencies:
            result = await self.drain(count, latency, f"w{latency}-")
            bound = (math.inf if latency == 0 else
                     default("worker_max_jobs") / (self.rounds["rounds"] * latency / 1000))
            result["bound_calls_per_s"] = None if math.isinf(bound) else round(bound, 1)
            result["of_bound"] = None if math.isinf(bound) else round(result["calls_per_s"] / bound, 3)
            # What the machine could serve at all, given the CPU every logged call costs the worker, the sandbox
            # (standing in for Outreach, on the same cores) and Redis in this very run.
            per_call = result["cpu_ms_per_call"] + result["sandbox_cpu_ms_per_call"] + result["redis_cpu_ms_per_call"]
            result["machine_ceiling_calls_per_s"] = round(psutil.cpu_count() * 1000 / per_call, 1)
            out[str(latency)] = result
            self.log(f"  worker latency {latency:3d} ms: {result['calls_per_s']:6.1f} calls/s/process "
                     f"(bound {result['bound_calls_per_s']}, machine ceiling {result['machine_ceiling_calls_per_s']}), "
                     f"CPU ms/call: worker {result['cpu_ms_per_call']:.2f}, sandbox "
                     f"{result['sandbox_cpu_ms_per_call']:.2f}, redis {result['redis_cpu_ms_per_call']:.2f}; "
                     f"{result['elapsed_s']} s, duplicates {result['duplicates']}")
        return out

    async def noop(self) -> dict[str, Any]:
        """arq's own cost per job: a no-op function, our settings (and arq's stock settings for scale)."""
        out: dict[str, Any] = {}
        assert self.stack.redis is not None
        redis = self.stack.redis
        self.cluster.phase = "arq-noop"
        variants = (("tuned", 2000 if self.quick else 6000), ("claim", 2000 if self.quick else 6000),
                    ("stock", 400 if self.quick else 1500))
        for variant, count in variants:
            env = self.stack.env(BENCH_ARQ_VARIANT=variant)
            proc = self.cluster.start_worker(env, role="arq-noop", module="bench.noop_worker")
            try:
                await asyncio.to_thread(quiet)
                cpu0 = proc.cpu_seconds()
                started = time.monotonic()
                tag = f"{variant}{int(time.time())}"
                await enqueue_noop(redis, count, tag)
                deadline = started + 60
                while time.monotonic() < deadline:
                    if await redis.zcard(NOOP_QUEUE) == 0 and not await redis.keys(f"arq:in-progress:{tag}-*"):
                        break
                    await asyncio.sleep(0.01)
                elapsed = time.monotonic() - started
                cpu = proc.cpu_seconds() - cpu0
            finally:
                self.cluster.stop(proc)
            out[variant] = {"jobs": count, "elapsed_s": round(elapsed, 2), "jobs_per_s": round(count / elapsed, 1),
                            "cpu_ms_per_job": round(cpu * 1000 / count, 3)}
            self.log(f"  arq no-op ({variant}): {out[variant]['jobs_per_s']:.0f} jobs/s, "
                     f"{out[variant]['cpu_ms_per_job']:.3f} CPU ms/job")
        return out

    # --- 3. end to end --------------------------------------------------------------------------------
    async def e2e(self, rate: float = 100.0, latency_ms: float = 20.0) -> dict[str, Any]:
        stack = self.stack
        self.cluster.phase = "e2e"
        seconds = 6.0 if self.quick else 20.0
        count = int(rate * seconds)
        await stack.seed(self.org)
        await stack.faults(latency_ms=latency_ms, **NO_LIMIT)
        await stack.reset_counters()
        batch = stack.batch(count, "e2e")
        await asyncio.to_thread(quiet)
        sent: dict[str, float] = {}
        statuses: dict[int, int] = {}
        url = f"http://127.0.0.1:{stack.web_port}/v1/nooks/events"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            async def post(evt: dict[str, Any]) -> None:
                body = orjson.dumps(evt)
                headers = sign_headers(str(evt["id"]), body)
                sent[evt["data"]["call_id"]] = time.time()
                async with http.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1

            tasks = []
            started = time.monotonic()
            for n, evt in enumerate(batch):
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(evt)))
            await asyncio.gather(*tasks)
        ok, _ = await stack.wait_logged(count, timeout=60)
        calls = await stack.calls()
        lat = [(iso_ts(c["attributes"]["createdAt"]) - sent[c["attributes"]["vendorCallId"]]) * 1000
               for c in calls if c["attributes"]["vendorCallId"] in sent]
        trips = self.rounds["rounds_until_call_created"]
        result = {"rate": rate, "latency_ms": latency_ms, "events": count, "complete": ok, "calls": len(calls),
                  "statuses": {str(k): v for k, v in statuses.items()},
                  "p50_ms": round(pct(lat, 50), 1), "p99_ms": round(pct(lat, 99), 1), "max_ms": round(max(lat), 1),
                  "outreach_round_trips": trips, "outreach_ms": trips * latency_ms,
                  "bar_ms": 100 + trips * latency_ms}
        self.log(f"  end to end at {rate:.0f} events/s, Outreach {latency_ms:.0f} ms: p50 {result['p50_ms']} ms, "
                 f"p99 {result['p99_ms']} ms (bar {result['bar_ms']:.0f} ms)")
        return result

    # --- 4. scale -------------------------------------------------------------------------------------
    async def scale(self) -> dict[str, Any]:
        out: dict[str, Any] = {"processes": {}, "reps": {}}
        stack = self.stack
        # Processes: the same load drained by 1, 2 and 4 worker processes.
        count = 1500 if self.quick else 3000
        for n in ((2,) if self.quick else (1, 2, 4)):
            stack.stop_workers()
            stack.start_workers(n)
            result = await self.drain(count, 100, f"p{n}-")
            out["processes"][str(n)] = result
            self.log(f"  {n} worker process(es), latency 100 ms: {result['calls_per_s']:.0f} calls/s "
                     f"({result['calls_per_s_per_process']:.0f}/process), {result['cpu_ms_per_call']:.2f} CPU ms/call")
        # Reps under per-rep rate limits: count the 429s Outreach had to send.
        stack.stop_workers()
        stack.start_workers(1)
        big = Org(50 if self.quick else 500, 20)
        self.cluster.phase = f"connect {big.reps} reps"
        await stack.seed(big)
        # The limits hold from the start, as Outreach's do: every process learns them from the first answers.
        limits = {"rate_limit": 40, "rate_window_s": 2}
        await stack.faults(**limits)
        took = await stack.connect_reps(big, concurrency=8, budget_s=180)
        self.log(f"  connected {big.reps} reps through OAuth in {took:.1f} s")
        for reps, count in ((10, 300), (big.reps, 3 * big.reps)):
            org = Org(reps, 20)
            result = await self.drain(count, 20, f"r{reps}-", org=org, timeout=120, knobs=limits)
            requests = await stack.requests()
            result["requests_logged"] = len(requests)
            result["outreach_429"] = sum(1 for r in requests if r["status"] == 429)
            result["limits"] = limits
            out["reps"][str(reps)] = result
            self.log(f"  {reps} reps, limit {limits['rate_limit']} requests/{limits['rate_window_s']} s per rep: "
                     f"{result['calls_per_s']:.0f} calls/s, {result['outreach_429']} x 429 from Outreach, "
                     f"rate-limit retries {result['stats'].get('retries_rate_limited', 0)}")
        # Backlog: many events queued at once, Redis memory per queued event, then drained.
        stack.stop_workers()
        backlog = 2000 if self.quick else 100_000
        out["backlog"] = await self.backlog(backlog, big)
        return out

    async def backlog(self, count: int, org: Org) -> dict[str, Any]:
        stack = self.stack
        assert stack.redis is not None
        self.cluster.phase = "backlog"
        await stack.seed(org)
        await stack.faults(latency_ms=0, **NO_LIMIT)
        await stack.reset_counters()
        await stack.redis.execute_command("MEMORY", "PURGE")
        before = int((await stack.redis.info("memory"))["used_memory"])
        enqueue_s = await stack.enqueue(stack.batch(count, "b"))
        after = int((await stack.redis.info("memory"))["used_memory"])
        per_event = (after - before) / count
        self.log(f"  backlog of {count} events queued in {enqueue_s:.1f} s ({count / enqueue_s:.0f}/s); "
                 f"Redis {per_event:.0f} bytes per queued event")
        workers = 2
        stack.start_workers(workers)
        cpu0 = {w.role: w.cpu_seconds() for w in stack.workers}
        started = time.monotonic()
        ok, _ = await stack.wait_logged(count, timeout=150 if self.quick else 600)
        elapsed = time.monotonic() - started
        cpu = sum(w.cpu_seconds() - cpu0[w.role] for w in stack.workers)
        logged = (await stack.stats()).get("calls_logged", 0)
        rest = int((await stack.redis.info("memory"))["used_memory"])
        result = {"events": count, "enqueue_s": round(enqueue_s, 2), "enqueue_per_s": round(count / enqueue_s),
                  "redis_bytes_per_event": round(per_event), "workers": workers, "complete": ok,
                  "logged": logged, "drain_s": round(elapsed, 1), "drain_per_s": round(logged / elapsed, 1),
                  "cpu_ms_per_call": round(cpu * 1000 / max(logged, 1), 3),
                  "redis_used_after_drain_mb": round(rest / 2**20, 1)}
        self.log(f"  backlog drained by {workers} workers (Outreach 0 ms): {logged}/{count} in {elapsed:.0f} s "
                 f"({result['drain_per_s']:.0f} calls/s)")
        stack.stop_workers()
        stack.start_workers(1)
        return result
