"""`python -m bench.replication_wait [--quick]`: what REDIS_WAIT_REPLICAS=1 costs ingress, beside the same run
without it.

A Redis master with one replica (both with an append-only file, as production), the real web process twice on it
(`python -m ingress`: WAIT off, WAIT on), and the same closed-loop load (bench.loadgen, 64 connections, fresh signed
`call.completed` events) against each, alternating, a few rounds. Prints events/s and latency per setting.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.events import Org, write_requests
from bench.loadgen import run_python
from bench.procs import Cluster, measured
from tools.embedded_redis import free_port, redis_server_binary

CONNECTIONS = 64


def start_replica(master_port: int, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                str(directory), "--appendonly", "yes", "--save", "", "--replicaof", "127.0.0.1",
                                str(master_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.info("replication").get("master_link_status") == "up":
                return process, port
        except redis.RedisError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the replica did not sync")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replication_wait")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    duration, rounds = (3.0, 2) if args.quick else (8.0, args.rounds or 3)
    cluster = Cluster()
    replica: subprocess.Popen[bytes] | None = None
    try:
        master = cluster.start_redis()
        replica, _ = start_replica(master.port, Path(tempfile.mkdtemp(prefix="nooks-bench-replica-")))
        master_client = redis.Redis.from_url(master.url)
        webs = {}
        for name, wait in (("no WAIT (default)", "0"), ("WAIT 1 replica", "1")):
            port = free_port()
            webs[name] = cluster.start_web(cluster.service_env(port, free_port(), REDIS_WAIT_REPLICAS=wait))
        requests_dir = Path(tempfile.mkdtemp(prefix="nooks-bench-req-"))
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in webs}
        for round_ in range(rounds):
            for name, proc in webs.items():
                requests = write_requests(requests_dir / "requests.bin", Org(10, 1000), 200_000,
                                          tag=f"w{round_}{len(results[name])}{int(time.time()) % 10**6}")

                def once(proc: Any = proc, requests: Path = requests) -> dict[str, Any]:
                    master_client.flushall()
                    return run_python(proc.port or 0, requests, duration=duration, connections=CONNECTIONS)

                results[name].append(measured(cluster, once, 2))
        print(f"ingress with a replica, {CONNECTIONS} connections, {rounds} rounds of {duration:g} s, alternating:")
        print("| setting | events/s | p50 ms | p99 ms | non-2xx or errors | disturbed rounds |")
        print("|---|---|---|---|---|---|")
        for name, runs in results.items():
            rate = statistics.median(r["rate"] for r in runs)
            p50 = statistics.median(r["latency_ms"]["p50"] for r in runs)
            p99 = statistics.median(r["latency_ms"]["p99"] for r in runs)
            non_2xx = sum(count for r in runs for status, count in r["statuses"].items()
                          if not status.startswith("2")) + sum(r["errors"] for r in runs)
            disturbed = sum(1 for r in runs if r["disturbed"])
            print(f"| {name} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {non_2xx} | {disturbed} |")
    finally:
        cluster.close()
        if replica is not None:
            replica.kill()


if __name__ == "__main__":
    main()
