"""`python -m bench.report [--sections] [RESULTS.json]`: the summary table of a run (default: the latest full
run), as in docs/benchmarks.md, with the machine it ran on. `--sections` adds the per-section tables that
docs/benchmarks.md shows under "Results", so the docs can be refreshed from a run's JSON rather than by hand."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from bench.run import MB, RESULTS, checks, markdown, table


def ingress_table(ingress: dict[str, Any]) -> str:
    top = ingress["max"]
    bare = top["bare"]["rate"]
    rows = []
    for name in ("bare", "verify", "lpush", "arq", "app"):
        if name in top:
            r = top[name]
            helpers = ("redis", "loadgen", "bench")
            server = max(cores for role, cores in r["cpu"]["by_role"].items() if role not in helpers)
            rows.append([name, f"{r['rate']:,.0f}", f"{r['rate'] / bare:.0%}", f"{r['latency_ms']['p50']:.1f} ms",
                         f"{r['latency_ms']['p99']:.1f} ms", f"{server:.2f} cores", r["tool"]])
    half = ingress["half_rate"]
    app, same = half["app"]["latency_ms"], half["bare"]["latency_ms"]
    return (markdown(["app", "req/s", "of bare", "p50", "p99", "server CPU", "generator"], rows)
            + f"\n\nHalf of the app's maximum ({half['rate']:,} events/s, open loop): p50 {app['p50']:.2f} ms, "
            f"p99 {app['p99']:.2f} ms, p99.9 {app['p99.9']:.1f} ms (bare at the same rate: p99 {same['p99']:.2f} ms).")


def worker_table(service: dict[str, Any]) -> str:
    rows = []
    for latency, w in service["worker"].items():
        bound = w.get("bound_calls_per_s")
        rows.append([f"{latency} ms", f"{w['calls_per_s']:.0f}", f"{bound:.0f}" if bound else "-",
                     f"{w['of_bound']:.0%}" if w.get("of_bound") else "-", f"{w['cpu_ms_per_call']:.2f}",
                     f"{w['sandbox_cpu_ms_per_call']:.2f}", f"{w['redis_cpu_ms_per_call']:.2f}",
                     f"{w['machine_ceiling_calls_per_s']:.0f}", str(w["duplicates"])])
    noop = service.get("noop", {})
    text = markdown(["Outreach latency", "calls/s (1 process)", "bound", "of bound", "worker CPU ms/call", "sandbox",
                     "Redis", "machine ceiling", "duplicates"], rows)
    if noop:
        text += "\n\narq no-op jobs, same run: " + "; ".join(
            f"{name} {v['jobs_per_s']:,.0f} jobs/s, {v['cpu_ms_per_job']:.3f} CPU ms/job" for name, v in noop.items())
    return text


def scale_table(service: dict[str, Any]) -> str:
    scale, rows = service["scale"], []
    for n, r in scale["processes"].items():
        rows.append([f"{n} worker process(es), 100 ms", f"{r['calls_per_s']:.0f}",
                     f"{r['calls_per_s_per_process']:.0f}", f"{r['cpu_ms_per_call']:.2f}", "-", "-"])
    for reps, r in scale["reps"].items():
        limits = r["limits"]
        rows.append([f"{reps} reps, {r['events']} events, {r['latency_ms']:.0f} ms, {limits['rate_limit']} req/"
                     f"{limits['rate_window_s']} s per rep", f"{r['calls_per_s']:.0f}",
                     f"{r['calls_per_s_per_process']:.0f}", f"{r['cpu_ms_per_call']:.2f}",
                     f"{r['outreach_429']} (of {r['requests_logged']} requests)",
                     str(r["stats"].get("retries_rate_limited", 0))])
    b = scale["backlog"]
    rows.append([f"backlog {b['events']:,} events, {b['workers']} processes, 0 ms", f"{b['drain_per_s']:.0f}",
                 f"{b['drain_per_s'] / b['workers']:.0f}", f"{b['cpu_ms_per_call']:.2f}", "-", "-"])
    header = ["run", "calls/s", "per process", "worker CPU ms/call", "429s from Outreach", "jobs deferred"]
    return (markdown(header, rows)
            + f"\n\nBacklog: queued in {b['enqueue_s']} s ({b['enqueue_per_s']:,}/s), {b['redis_bytes_per_event']:,} "
            f"bytes of Redis memory per queued event, drained {b['logged']:,} of {b['events']:,} in {b['drain_s']} s.")


def memory_table(results: dict[str, Any]) -> str:
    rows = []
    for role in ("web", "worker"):
        peaks = {phase: roles[role] for phase, roles in results.get("peak_rss_by_phase", {}).items() if role in roles}
        if peaks:
            phase = max(peaks, key=lambda p: peaks[p])
            rows.append([role, f"{peaks[phase] / MB:.0f} MB", phase, "< 150 MB"])
    return markdown(["process", "peak RSS", "in phase", "bar"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS / "latest-full.json")
    parser.add_argument("--sections", action="store_true", help="also the per-section tables")
    args = parser.parse_args()
    results = orjson.loads(args.results.read_bytes())
    machine = results["machine"]
    print(f"{results['mode']} run of {results['started']}, {results['elapsed_s']:.0f} s; {machine['nproc']} cores, "
          f"Python {machine['python']}, {machine['redis']}\n")
    print(table(checks(results)))
    if not args.sections:
        return
    service = results.get("service", {})
    sections: list[tuple[str, str]] = []
    if "ingress" in results:
        sections.append(("1. Ingress", ingress_table(results["ingress"])))
    if "worker" in service:
        sections.append(("2. Worker", worker_table(service)))
    if "scale" in service:
        sections.append(("4. Scale", scale_table(service)))
    sections.append(("5. Memory", memory_table(results)))
    for title, text in sections:
        print(f"\n### {title}\n\n{text}")

if __name__ == "__main__":
    main()
