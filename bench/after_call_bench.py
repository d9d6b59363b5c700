"""`python -m bench.after_call_bench [--calls N]`: what a call's outcome costs in Outreach requests and time.

The whole service (Redis, the sandbox, web, one worker) on the bench org. Each call is queued alone and
followed to its end (the ledger's `done`, written after the last step): N calls without `after_call` (the
same-run baseline: the call and its task's completion), then N calls each with a follow-up, the opt-out and an
enrolment, with every Outreach request taking `--latency-ms` (default 50). Reported: Outreach requests per call
beside the floor (one request per action, plus the mailbox read for an enrolment), and the time from the event
queued to its last action (median and p95).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from bench.events import TEAM, Org, events
from bench.procs import Cluster
from bench.stack import Stack
from store import keys

AFTER_CALL = {"follow_up": {"after": "P1D", "note": "Send pricing"}, "opt_out_of_calls": True,
              "add_to_sequence": {"sequence_id": 43}}
FLOOR_EXTRA = 4  # POST /tasks, PATCH /prospects/{id}, GET /mailboxes, POST /sequenceStates


async def measure(stack: Stack, batch: list[dict[str, Any]]) -> dict[str, Any]:
    assert stack.redis is not None
    await stack.clear_requests()
    seconds: list[float] = []
    for event in batch:
        data: Any = event["data"]
        ledger = keys.call_state(TEAM, str(data["call_id"]))
        started = time.monotonic()
        await stack.enqueue([event])
        while True:  # the ledger's `done` is written once the last step has run
            if await stack.redis.hget(ledger, "done") is not None:
                break
            await asyncio.sleep(0.002)
        seconds.append(time.monotonic() - started)
    # The calls' requests: not the webhook set's checks that background jobs make meanwhile (GET /webhooks).
    requests = [r for r in await stack.requests()
                if r["path"].startswith("/api/v2") and not r["path"].startswith("/api/v2/webhooks")]
    return {"calls": len(batch), "requests_per_call": len(requests) / len(batch),
            "median_ms": statistics.median(seconds) * 1000,
            "p95_ms": sorted(seconds)[int(0.95 * (len(seconds) - 1))] * 1000}


async def main(calls: int, latency_ms: float) -> None:
    cluster = Cluster()
    cluster.start_redis()
    stack = Stack(cluster)
    try:
        await stack.start()
        org = Org(reps=4, prospects_per_rep=max(2, calls))
        await stack.seed(org)
        await stack.connect_reps(org)
        stack.start_workers(1)
        await stack.faults(latency_ms=latency_ms)  # each Outreach request takes this long, as over the internet
        baseline = await measure(stack, events(org, calls, tag="base"))
        outcome = events(org, calls * 2, tag="outcome")[calls:]  # other prospects than the baseline's
        for event in outcome:
            data: Any = event["data"]
            data["after_call"] = AFTER_CALL
        after = await measure(stack, outcome)
        extra = after["requests_per_call"] - baseline["requests_per_call"]
        print(f"{calls} calls each, one at a time, Outreach answering in {latency_ms:.0f} ms")
        print(f"{'':34}{'requests/call':>14}{'median ms':>11}{'p95 ms':>9}")
        for name, row in (("baseline: call + task completed", baseline), ("with follow-up, opt-out, enrol", after)):
            print(f"{name:34}{row['requests_per_call']:>14.2f}{row['median_ms']:>11.1f}{row['p95_ms']:>9.1f}")
        print(f"after-call actions: {extra:.2f} Outreach requests per call, floor {FLOOR_EXTRA} "
              f"(one per action, plus the mailbox read for the enrolment)")
    finally:
        await stack.close()
        cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.after_call_bench")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.latency_ms))
