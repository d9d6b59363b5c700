"""docs/bench-load.png: throughput and latency of the ingress against offered load (open loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OUT = Path(__file__).resolve().parent.parent / "docs" / "bench-load.png"
SERIES = (("sweep_app", "real app (verify + validate + dedupe + Lua enqueue)", "tab:blue"),
          ("sweep_lpush", "baseline: verify + validate + LPUSH", "tab:orange"),
          ("sweep_bare", "baseline: bare Starlette 202", "tab:gray"))


def plot(results: dict[str, Any], out: Path = OUT) -> Path:
    ingress = results["ingress"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for key, label, color in SERIES:
        points = ingress.get(key)
        if not points:
            continue
        offered = [p["target_rate"] for p in points]
        left.plot(offered, [p["rate"] for p in points], "o-", color=color, label=label)
        right.plot(offered, [p["latency_ms"]["p99"] for p in points], "o-", color=color, label=f"{label}, p99")
        right.plot(offered, [p["latency_ms"]["p50"] for p in points], "o--", color=color, alpha=0.6,
                   label=f"{label}, p50")
    app_max = ingress["max"]["app"]["rate"]
    top = max(p["target_rate"] for p in ingress["sweep_app"])
    left.plot([0, top], [0, top], ":", color="black", linewidth=0.8, label="offered = served")
    for axis in (left, right):
        axis.axvline(app_max, color="tab:blue", linestyle=":", linewidth=0.8)
        axis.set_xlabel("offered load (signed call.completed events/s, open loop)")
        axis.grid(alpha=0.3)
    left.set_ylabel("served (responses/s)")
    left.set_title("Throughput against load")
    right.set_ylabel("latency (ms, from intended send time)")
    right.set_yscale("log")
    right.axhline(50, color="red", linestyle="--", linewidth=0.8, label="bar: p99 < 50 ms at half max")
    right.set_title("Latency against load")
    left.legend(fontsize=7, loc="upper left")
    right.legend(fontsize=7, loc="upper left")
    machine = results["machine"]
    fig.suptitle(f"POST /v1/nooks/events on {machine['nproc']} cores (load generator on the same cores), "
                 f"Python {machine['python']}; dotted line: the app's closed-loop max ({app_max:,.0f}/s)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
