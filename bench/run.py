"""`python -m bench` (full, < 15 min) or `python -m bench --quick` (< 2 min, the regression guard);
`python -m bench --scale` (a few minutes): a large deployment beside a small one (bench/scale_bench.py).

Every figure is printed beside a baseline measured in the same run on the same machine, and beside its bar.
`--quick` exits 1 when any figure misses its bar. Raw results: bench/results/<time>-<mode>.json (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from redis import Redis as SyncRedis

from bench.ingress_bench import IngressBench
from bench.procs import Cluster, log_dir, machine
from bench.scale_bench import ScaleBench
from bench.service_bench import ServiceBench
from bench.webhook_bench import WebhookBench

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("ingress", "worker", "e2e", "scale", "webhooks")
MB = 2**20
# The reference machine: arq, tuned, drains about 1,900 no-op jobs/s there. Its worker bars (80 % of
# the bound, 300 calls/s) are absolute rates; divided by this they become ratios to the same-run arq baseline.
REFERENCE_ARQ_NOOP_PER_S = 1900


def log(message: str) -> None:
    print(message, flush=True)


def clean_slate(cluster: Cluster) -> None:
    """Each section starts from an empty Redis: a previous section's team and reps (tokens a new sandbox refuses,
    subscriptions it never had) would otherwise be taken up by this section's workers."""
    assert cluster.redis is not None
    client = SyncRedis.from_url(cluster.redis.url)
    try:
        client.flushall()
    finally:
        client.close()


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """(figure, value, baseline, bar, pass) rows; `None` pass = information only."""
    rows: list[dict[str, Any]] = []

    def row(name: str, value: str, baseline: str, bar: str, ok: bool | None) -> None:
        rows.append({"figure": name, "value": value, "baseline": baseline, "bar": bar, "pass": ok})

    ingress = results.get("ingress")
    if ingress:
        top = ingress["max"]
        bare, app = top["bare"]["rate"], top["app"]["rate"]
        row("ingress max rate, real app", f"{app:,.0f} req/s ({app / bare:.0%} of bare)", f"bare {bare:,.0f} req/s",
            ">= 20% of bare", app / bare >= 0.20)
        for name in ("verify", "lpush", "arq"):
            if name in top:
                rate = top[name]["rate"]
                row(f"ingress baseline: {name}", f"{rate:,.0f} req/s ({rate / bare:.0%} of bare)",
                    f"bare {bare:,.0f} req/s", "-", None)
        half = ingress["half_rate"]
        p99 = half["app"]["latency_ms"]["p99"]
        row(f"ingress p99 at half max ({half['rate']:,} req/s, open loop)", f"{p99:.1f} ms",
            f"bare at same rate {half['bare']['latency_ms']['p99']:.1f} ms", "< 50 ms", p99 < 50)
        if "loadgen_python_vs_bare" in ingress:
            row("load generator ceiling (vs bare)", f"python {ingress['loadgen_python_vs_bare']['rate']:,.0f} req/s",
                f"wrk {bare:,.0f} req/s", "-", None)
    service = results.get("service", {})
    worker = service.get("worker")
    if worker:
        rounds = service["rounds"]
        w100 = worker["100"]
        row("worker calls/s/process at 100 ms Outreach", f"{w100['calls_per_s']:.0f} calls/s "
            f"({w100['of_bound']:.0%} of bound)",
            f"bound {w100['bound_calls_per_s']:.0f} = {service['max_jobs']} jobs / ({rounds['rounds']} x 100 ms)",
            ">= 80% of bound and >= 300/s", w100["of_bound"] >= 0.8 and w100["calls_per_s"] >= 300)
        noop = service.get("noop", {})
        ceiling = w100.get("machine_ceiling_calls_per_s")
        if ceiling:
            row("worker at 100 ms: what this machine can serve at all", f"{ceiling:.0f} calls/s",
                f"{results['machine']['nproc']} cores / (worker {w100['cpu_ms_per_call']:.2f} + sandbox "
                f"{w100['sandbox_cpu_ms_per_call']:.2f} + redis {w100['redis_cpu_ms_per_call']:.2f} CPU ms per call)",
                "-", None)
        tuned = noop.get("tuned", {}).get("jobs_per_s")
        if tuned:
            bar = max(0.8 * w100["bound_calls_per_s"], 300) / REFERENCE_ARQ_NOOP_PER_S
            ratio = w100["calls_per_s"] / tuned
            row("worker calls/s at 100 ms per arq no-op job/s (hardware-neutral)",
                f"{ratio:.3f} ({w100['calls_per_s']:.0f} / {tuned:,.0f})",
                f"the bar above on the reference machine: {max(0.8 * w100['bound_calls_per_s'], 300):.0f} / "
                f"{REFERENCE_ARQ_NOOP_PER_S:,}", f">= {bar:.3f}", ratio >= bar)
        w0 = worker["0"]
        row("worker CPU per logged call, 0 ms Outreach", f"{w0['cpu_ms_per_call']:.2f} ms "
            f"({w0['calls_per_s']:.0f} calls/s)",
            f"arq no-op job {noop.get('tuned', {}).get('cpu_ms_per_job', float('nan')):.3f} ms", "-", None)
        for latency in ("50", "200"):
            if latency in worker:
                w = worker[latency]
                row(f"worker calls/s/process at {latency} ms Outreach", f"{w['calls_per_s']:.0f} calls/s",
                    f"bound {w['bound_calls_per_s']:.0f}", "-", None)
        if noop:
            row("arq no-op jobs/s, our settings", f"{noop['tuned']['jobs_per_s']:,.0f} jobs/s",
                f"arq stock settings {noop['stock']['jobs_per_s']:,.0f} jobs/s", "-", None)
            if "claim" in noop:
                row("arq no-op, our settings + one-script claim", f"{noop['claim']['jobs_per_s']:,.0f} jobs/s, "
                    f"{noop['claim']['cpu_ms_per_job']:.3f} CPU ms/job",
                    f"arq's own claim {noop['tuned']['jobs_per_s']:,.0f} jobs/s, "
                    f"{noop['tuned']['cpu_ms_per_job']:.3f} ms/job", "-", None)
    e2e = service.get("e2e")
    if e2e:
        row(f"end to end p99 at {e2e['rate']:.0f} events/s, {e2e['latency_ms']:.0f} ms Outreach",
            f"{e2e['p99_ms']:.0f} ms (p50 {e2e['p50_ms']:.0f} ms)",
            f"Outreach alone {e2e['outreach_ms']:.0f} ms ({e2e['outreach_round_trips']} round trips)",
            f"<= {e2e['bar_ms']:.0f} ms", e2e["p99_ms"] <= e2e["bar_ms"] and e2e["complete"])
    scale = service.get("scale")
    if scale:
        one = scale["processes"].get("1", worker["100"] if worker else {}).get("calls_per_s", float("nan"))
        for n, result in scale["processes"].items():
            row(f"scale: {n} worker process(es), 100 ms", f"{result['calls_per_s']:.0f} calls/s",
                f"1 process {one:.0f} calls/s", "-", None)
        for reps, result in scale["reps"].items():
            row(f"scale: {reps} reps under per-rep rate limits", f"{result['outreach_429']} x 429 "
                f"({result['calls_per_s']:.0f} calls/s)",
                f"{result['stats'].get('retries_rate_limited', 0)} jobs deferred", "0 x 429",
                result["outreach_429"] == 0 and result["complete"])
        backlog = scale["backlog"]
        row(f"scale: backlog of {backlog['events']:,} events", f"{backlog['redis_bytes_per_event']} B/event in Redis, "
            f"drained at {backlog['drain_per_s']:.0f} calls/s", f"queued at {backlog['enqueue_per_s']:,}/s", "drained",
            backlog["complete"])
    hooks = results.get("webhooks")
    if hooks:
        webhook_rows(hooks, row)
    size = results.get("size")
    if size:
        scale_rows(size, row)
    for role in ("web", "worker"):
        peak = results.get("peak_rss", {}).get(role)
        if peak:
            row(f"peak RSS, {role}", f"{peak / MB:.0f} MB", "-", "< 150 MB", peak < 150 * MB)
    return rows


def webhook_rows(hooks: dict[str, Any], row: Any) -> None:
    def cost(r: dict[str, Any]) -> str:
        return (("INCOMPLETE: " if not r["complete"] else "") + f"{r['changes']} changes: "
                f"{r['deliveries_per_change']:.2f} deliveries, {r['notifications_per_change']:.2f} notifications, "
                f"web {r['web_cpu_ms_per_change']:.2f} + worker {r['worker_cpu_ms_per_change']:.2f} + redis "
                f"{r['redis_cpu_ms_per_change']:.2f} CPU ms")

    one, fifty, legacy = hooks["1"], hooks["50"], hooks["50_per_rep"]
    row(f"webhook ingress per change, 1 rep ({one['subscriptions']} subscriptions)", cost(one), "-",
        "1 delivery, 1 notification", one["deliveries_per_change"] == 1 and one["notifications_per_change"] == 1)
    web_ratio = fifty["web_cpu_ms_per_change"] / max(one["web_cpu_ms_per_change"], 1e-9)
    row(f"webhook ingress per change, {fifty['reps']} reps ({fifty['subscriptions']} subscriptions)", cost(fifty),
        f"1 rep: {one['web_cpu_ms_per_change']:.2f} web CPU ms ({web_ratio:.1f}x)",
        "1 delivery, 1 notification, web CPU < 2x 1 rep",
        fifty["deliveries_per_change"] == 1 and fifty["notifications_per_change"] == 1 and web_ratio < 2)
    saving = legacy["web_cpu_ms_per_change"] / max(fifty["web_cpu_ms_per_change"], 1e-9)
    row(f"webhook ingress per change, {legacy['reps']} reps holding a set each ({legacy['subscriptions']} "
        f"subscriptions, before)", cost(legacy),
        f"one set: {fifty['web_cpu_ms_per_change']:.2f} web CPU ms, {saving:.0f}x less", "-", None)
    repair = hooks["repair"]
    row("per-rep sets brought to one set by a repair run", f"{repair['before']} → {repair['after']} subscriptions "
        f"in {repair['seconds']:.1f} s", "-", "one set", repair["after"] == 5)


def scale_rows(size: dict[str, Any], row: Any) -> None:
    notify = size["notify"]
    big, small = notify["big"], notify["small"]
    for figure, unit, digits in (("cpu_ms", "CPU ms", 3), ("redis_bytes_read", "bytes read from Redis", 0)):
        ratio = big[figure] / max(small[figure], 1e-9)
        row(f"per notification, 100,000-user org: {unit}", f"{big[figure]:,.{digits}f} ({ratio:.2f}x)",
            f"100-user org {small[figure]:,.{digits}f}", "within 20%", ratio <= 1.2)
    row("  the directory the earlier code read per notification", f"{notify['directory_bytes_big_team']:,} bytes",
        "-", "-", None)
    first, again = size["connect"]["first"], size["connect"]["reconnect"]
    row(f"Outreach requests to reconnect a rep, {size['connect']['users']:,}-user org",
        f"{again['requests']} ({again['user_reads']} user read)",
        f"the team's first connect {first['requests']} ({first['user_reads']} user pages)", "-", None)
    for stage, label in (("small", "small deployment"), ("large", "50 teams x 200 reps"),
                         ("large_dead", "50 x 200 + 10,000 dead letters")):
        for path, figures in size[stage]["ops"].items():
            bar = path in ("/ops", "/ops/api/summary") and stage != "small"
            row(f"{path}, {label}", f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms",
                "-" if stage == "small" else f"small p95 {size['small']['ops'].get(path, {}).get('p95_ms', '-')} ms",
                "p95 < 200 ms" if bar else "-", figures["p95_ms"] < 200 if bar else None)
    row("Redis memory per connected rep", f"{size['memory_per_rep_bytes']:,} bytes", "-", "-", None)
    row("Redis memory per queued event", f"{size['large']['memory_per_queued_event_bytes']:,} bytes",
        f"small deployment {size['small']['memory_per_queued_event_bytes']:,} bytes", "-", None)
    for figure, key, unit in (("worker throughput (Outreach 0 ms)", "worker", "calls_per_s"),
                              ("ingest throughput", "ingest", "per_s")):
        at_size, before = size["large"][key][unit], size["small"][key][unit]
        ratio = at_size / max(before, 1e-9)
        row(f"{figure} at 50 x 200", f"{at_size:,.0f}/s ({ratio:.0%})", f"small deployment {before:,.0f}/s",
            "within 10%", ratio >= 0.9)
    cpu, cpu_before = size["large"]["worker"]["cpu_ms_per_call"], size["small"]["worker"]["cpu_ms_per_call"]
    row("worker CPU per logged call at 50 x 200", f"{cpu:.2f} ms ({cpu / max(cpu_before, 1e-9):.2f}x)",
        f"small deployment {cpu_before:.2f} ms", "-", None)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else ("PASS" if ok else "**FAIL**")

    return markdown(["figure", "value", "baseline (same run)", "bar", "pass"],
                    [[r["figure"], r["value"], r["baseline"], r["bar"], verdict(r["pass"])] for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="under two minutes; exit 1 when a bar is missed")
    parser.add_argument("--scale", action="store_true",
                        help="only the scale run: 50 teams x 200 reps, a 100,000-user org, beside a small deployment")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--expect-miss", action="append", default=[], metavar="TEXT",
                        help="a known miss (figure name contains TEXT): reported, but not a failure of --quick")
    args = parser.parse_args()
    sections = {"size"} if args.scale else {s.strip() for s in args.only.split(",") if s.strip()}
    mode = "scale" if args.scale else ("quick" if args.quick else "full")
    started = time.monotonic()
    results: dict[str, Any] = {"mode": mode, "sections": sorted(sections), "machine": machine(),
                               "started": datetime.now(UTC).isoformat(timespec="seconds")}
    log(f"bench ({mode}) on {results['machine']['nproc']} cores, Python {results['machine']['python']}; "
        f"process logs in {log_dir()}")
    cluster = Cluster()
    try:
        cluster.start_redis()
        if "ingress" in sections:
            clean_slate(cluster)
            log("1. ingress")
            cluster.phase = "ingress"
            results["ingress"] = IngressBench(cluster, args.quick, log).run()
        if sections & {"worker", "e2e", "scale"}:
            clean_slate(cluster)
            log("2-4. worker, end to end, scale")
            results["service"] = asyncio.run(ServiceBench(cluster, args.quick, log).run(sections))
        if "webhooks" in sections:
            clean_slate(cluster)
            log("5. webhook ingress per change")
            results["webhooks"] = asyncio.run(WebhookBench(cluster, args.quick, log).run())
        if "size" in sections:
            clean_slate(cluster)
            log("scale: a large deployment beside a small one")
            cluster.phase = "size"
            results["size"] = asyncio.run(ScaleBench(cluster, args.quick, log).run())
    finally:
        cluster.close()
        results["peak_rss"] = dict(cluster.peak_rss)
        results["peak_rss_by_phase"] = {phase: dict(roles) for phase, roles in cluster.peak_rss_by_phase.items()}
        results["elapsed_s"] = round(time.monotonic() - started, 1)
    rows = checks(results)
    results["checks"] = rows
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}-{mode}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    (RESULTS / f"latest-{mode}.json").write_bytes(path.read_bytes())
    if not args.quick and not args.no_plot and "ingress" in sections:
        from bench.plot import plot

        log(f"plot: {plot(results)}")
    log("")
    log(table(rows))
    failed = [r["figure"] for r in rows if r["pass"] is False]
    known = [f for f in failed if any(text in f for text in args.expect_miss)]
    log(f"\n{len(rows)} figures, {sum(r['pass'] is True for r in rows)} bars met, {len(failed)} missed; "
        f"{results['elapsed_s']:.0f} s; raw results {path}")
    if failed:
        log("missed: " + "; ".join(f + (" (expected)" if f in known else "") for f in failed))
    return 1 if (args.quick or args.scale) and len(failed) > len(known) else 0


if __name__ == "__main__":
    sys.exit(main())
