"""1. Ingress: signed `call.completed` → 202, the real app beside bare / verify / LPUSH / arq baselines."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.events import Org, write_requests
from bench.loadgen import have_wrk, run_python, run_wrk
from bench.procs import EVENTS_SECRET, Cluster, Proc, measured
from store import keys
from tools.embedded_redis import free_port

APPS = ("bare", "verify", "lpush", "arq", "app")
SWEEP = (0.25, 0.5, 0.75, 0.9, 1.0, 1.2)
CONNECTIONS = 64


class IngressBench:
    def __init__(self, cluster: Cluster, quick: bool, log: Any) -> None:
        self.cluster, self.quick, self.log = cluster, quick, log
        self.duration = 3.0 if quick else 8.0
        self.attempts = 2 if quick else 3
        self.org = Org(10, 1000)
        self.dir = Path(tempfile.mkdtemp(prefix="nooks-bench-req-"))
        assert cluster.redis is not None
        self.redis = redis.Redis.from_url(cluster.redis.url)
        self.procs: dict[str, Proc] = {}

    def requests(self, count: int) -> Path:
        """Fresh signed requests (timestamps must be within 5 minutes of use), unique ids."""
        return write_requests(self.dir / "requests.bin", self.org, count, tag=f"i{int(time.time() * 1000) % 10**7}")

    def start(self, app: str) -> Proc:
        if app == "app":
            port = free_port()
            # The real web process, exactly as `Procfile` runs it; Outreach is never called on this path.
            return self.cluster.start_web(self.cluster.service_env(port, free_port()))
        assert self.cluster.redis is not None
        return self.cluster.start_baseline(app, {"REDIS_URL": self.cluster.redis.url,
                                                 "NOOKS_EVENTS_SECRET": EVENTS_SECRET})

    def closed(self, proc: Proc, requests: Path, tool: str) -> dict[str, Any]:
        runner = run_wrk if tool == "wrk" else run_python
        self.redis.flushall()
        runner(proc.port or 0, requests, duration=1.0, connections=CONNECTIONS)  # warm-up, discarded

        def once() -> dict[str, Any]:
            self.redis.flushall()
            cpu0 = proc.cpu_seconds()
            result = runner(proc.port or 0, requests, duration=self.duration, connections=CONNECTIONS)
            result["server_cpu_s"] = round(proc.cpu_seconds() - cpu0, 2)
            return result

        return measured(self.cluster, once, self.attempts)

    def open(self, proc: Proc, rate: float, seconds: float | None = None) -> dict[str, Any]:
        seconds = seconds or (3.0 if self.quick else 4.0)

        def once() -> dict[str, Any]:
            requests = self.requests(int(rate * seconds) + 300)
            self.redis.flushall()
            return run_python(proc.port or 0, requests, duration=seconds, connections=256, rate=rate)

        return measured(self.cluster, once, self.attempts)

    def run(self) -> dict[str, Any]:
        tool = "wrk" if have_wrk() else "python"
        out: dict[str, Any] = {"tool": tool, "duration_s": self.duration, "connections": CONNECTIONS, "max": {}}
        apps = ("bare", "lpush", "app") if self.quick else APPS
        for app in apps:
            requests = self.requests(150_000 if app in ("bare", "verify") and not self.quick else 60_000)
            proc = self.start(app)
            try:
                result = self.closed(proc, requests, tool)
                if app == "app":
                    result["queued"] = int(self.redis.zcard(keys.QUEUE))
                out["max"][app] = result
                self.log(f"  ingress {app:7s} {result['rate']:9.0f} req/s  p99 {result['latency_ms']['p99']:.1f} ms"
                         f"  ({tool}, {CONNECTIONS} connections, {self.duration:g} s)")
                if app == "bare" and tool == "wrk" and not self.quick:
                    # The generators' own ceiling: the Python one against the cheapest server we have.
                    mine = self.closed(proc, requests, "python")
                    out["loadgen_python_vs_bare"] = mine
                    self.log(f"  loadgen ceiling: python generator {mine['rate']:.0f} req/s vs wrk "
                             f"{result['rate']:.0f} req/s against bare")
                if app == "app":
                    half = result["rate"] / 2
                    out["half_rate"] = {"rate": round(half), "app": self.open(proc, half)}
                    self.log(f"  app at half max ({half:.0f}/s, open loop): "
                             f"p50 {out['half_rate']['app']['latency_ms']['p50']:.2f} ms, "
                             f"p99 {out['half_rate']['app']['latency_ms']['p99']:.2f} ms")
                    if not self.quick:
                        out["sweep_app"] = self.sweep(proc, result["rate"])
                self.procs[app] = proc
            finally:
                if app not in ("bare", "lpush"):
                    self.cluster.stop(proc)
        # Baselines at the app's own loads: same offered rates, same generator.
        app_max = out["max"]["app"]["rate"]
        bare = self.procs["bare"]
        out["half_rate"]["bare"] = self.open(bare, app_max / 2)
        if not self.quick:
            out["sweep_bare"] = self.sweep(bare, app_max)
            out["sweep_lpush"] = self.sweep(self.procs["lpush"], app_max)
        for name in ("bare", "lpush"):
            self.cluster.stop(self.procs.pop(name))
        return out

    def sweep(self, proc: Proc, app_max: float) -> list[dict[str, Any]]:
        points = []
        for fraction in SWEEP:
            result = self.open(proc, app_max * fraction, seconds=3.0)
            result["fraction"] = fraction
            points.append(result)
        return points
