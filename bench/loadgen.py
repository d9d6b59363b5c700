"""HTTP/1.1 load generators over loopback: `wrk` (closed loop, for the maximum rate) and a lean asyncio one
(uvloop, raw protocol, pre-built requests) that also runs open loop at a fixed rate for latency figures.

Open-loop latency is measured from each request's *intended* send time, so a stalled server is not hidden
by the generator waiting for it (no coordinated omission).

`python -m bench.loadgen --port P --requests FILE (--rate R | --connections C) --duration D` prints JSON.
Bounded: at most `--duration` seconds of sending and at most the number of requests in the file.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import re
import shutil
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Any

import orjson

from bench.events import SEPARATOR

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")


def percentiles(samples: list[float] | array[float],
                points: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {f"p{p:g}": float("nan") for p in points}
    return {f"p{p:g}": ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] for p in points}


def load_requests(path: Path) -> list[bytes]:
    return path.read_bytes().split(SEPARATOR)


class _Conn(asyncio.Protocol):
    __slots__ = ("buf", "gen", "intended", "transport")

    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.intended = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def fire(self, request: bytes, intended: float) -> None:
        self.intended = intended
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        match = _LENGTH.search(buf, 0, end + 2)
        if match:
            length = int(match.group(1))
        total = end + 4 + length
        if len(buf) < total:
            return
        status = int(buf[9:12])
        del buf[:total]
        self.gen.completed(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


class _Generator:
    def __init__(self, requests: list[bytes], duration: float) -> None:
        self.requests = requests
        self.next = 0
        self.duration = duration
        self.latencies: array[float] = array("d")
        self.intended: array[float] = array("d")
        self.statuses: collections.Counter[int] = collections.Counter()
        self.idle: collections.deque[_Conn] = collections.deque()
        self.pending: collections.deque[float] = collections.deque()
        self.in_flight = 0
        self.closed_loop = False
        self.deadline = 0.0
        self.errors = 0
        self.drained = asyncio.Event()

    def take(self) -> bytes | None:
        if self.next >= len(self.requests):
            return None
        request = self.requests[self.next]
        self.next += 1
        return request

    def completed(self, conn: _Conn, status: int) -> None:
        now = time.perf_counter()
        self.latencies.append(now - conn.intended)
        self.intended.append(conn.intended)
        self.statuses[status] += 1
        self.in_flight -= 1
        self._dispatch(conn, now)

    def _dispatch(self, conn: _Conn, now: float) -> None:
        if self.closed_loop:
            request = self.take() if now < self.deadline else None
            if request is not None:
                self.in_flight += 1
                conn.fire(request, now)
                return
        elif self.pending:
            request = self.take()
            if request is not None:
                self.in_flight += 1
                conn.fire(request, self.pending.popleft())
                return
            self.pending.clear()
        self.idle.append(conn)
        if self.in_flight == 0 and (self.closed_loop or not self.pending):
            self.drained.set()

    def lost(self, conn: _Conn) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
            return
        self.errors += 1
        self.in_flight -= 1
        if self.in_flight <= 0:
            self.drained.set()

    def offer(self, intended: float) -> bool:
        """Open loop: send one request now (or queue it for the next free connection)."""
        if self.idle:
            request = self.take()
            if request is None:
                return False
            self.in_flight += 1
            self.idle.popleft().fire(request, intended)
        else:
            if self.next + len(self.pending) >= len(self.requests):
                return False
            self.pending.append(intended)
        return True


async def run(port: int, requests: list[bytes], *, duration: float, connections: int,
              rate: float | None = None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gen = _Generator(requests, duration)
    gen.idle.clear()
    conns = await asyncio.gather(*[loop.create_connection(lambda: _Conn(gen), "127.0.0.1", port)
                                   for _ in range(connections)])
    # Warm-up: one request per connection, not counted, so the server has accepted and set up every
    # connection before the clock starts (otherwise the first 100 ms measure uvicorn accepting sockets).
    gen.closed_loop, gen.deadline = True, 0.0
    for _, conn in conns:
        request = gen.take()
        if request is not None:
            gen.in_flight += 1
            conn.fire(request, time.perf_counter())
    if gen.in_flight:
        await asyncio.wait_for(gen.drained.wait(), timeout=10)
    gen.closed_loop = False
    gen.latencies, gen.intended, gen.statuses = array("d"), array("d"), collections.Counter()
    gen.drained.clear()
    started = time.perf_counter()
    gen.deadline = started + duration
    offered = 0
    if rate is None:
        gen.closed_loop = True
        for conn in list(gen.idle):
            gen.idle.remove(conn)
            request = gen.take()
            if request is None:
                gen.idle.append(conn)
                continue
            gen.in_flight += 1
            offered += 1
            conn.fire(request, time.perf_counter())
        await asyncio.sleep(duration)
    else:
        interval = 1.0 / rate
        total = int(rate * duration)
        while offered < total:
            now = time.perf_counter()
            due = min(total, int((now - started) / interval) + 1)
            while offered < due:
                if not gen.offer(started + offered * interval):
                    total = offered
                    break
                offered += 1
            # Sleep at least a millisecond (the timer's resolution): a shorter sleep wakes at once and spins a
            # core. Requests due meanwhile go out together; latency still counts from each one's intended time.
            await asyncio.sleep(max(0.001, started + offered * interval - time.perf_counter()))
    sent_for = time.perf_counter() - started
    if gen.in_flight or gen.pending:
        gen.drained.clear()
        try:
            await asyncio.wait_for(gen.drained.wait(), timeout=10)
        except TimeoutError:
            pass
    elapsed = time.perf_counter() - started
    for _, conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    done = len(gen.latencies)
    lat_ms = [x * 1000 for x in gen.latencies]
    return {
        "mode": "closed" if rate is None else "open",
        "target_rate": rate,
        "connections": connections,
        "requests": done,
        "offered": offered if rate is not None else gen.next,
        "elapsed_s": round(elapsed, 3),
        "rate": round(done / (sent_for if rate is None else elapsed), 1),
        "statuses": {str(k): v for k, v in sorted(gen.statuses.items())},
        "errors": gen.errors,
        "latency_ms": {k: round(v, 3) for k, v in percentiles(lat_ms).items()},
        "max_ms": round(max(lat_ms), 3) if lat_ms else None,
        "exhausted": gen.next >= len(requests),
        "worst_100ms": _worst_windows(gen, started),
    }


def _worst_windows(gen: _Generator, started: float, width: float = 0.1) -> list[dict[str, float]]:
    """Where the slow requests were: the five 100 ms windows (by intended send time) with the worst latency."""
    windows: dict[int, float] = {}
    for sent, latency in zip(gen.intended, gen.latencies, strict=True):
        key = int((sent - started) / width)
        windows[key] = max(windows.get(key, 0.0), latency)
    worst = sorted(windows.items(), key=lambda kv: -kv[1])[:5]
    return [{"at_s": round(k * width, 1), "max_ms": round(v * 1000, 1)} for k, v in worst]


def run_python(port: int, requests_file: Path, *, duration: float, connections: int = 64,
               rate: float | None = None, cpus: set[int] | None = None) -> dict[str, Any]:
    """Run the asyncio generator in its own process (so it never shares an event loop with anything)."""
    args = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--requests", str(requests_file),
            "--duration", str(duration), "--connections", str(connections)]
    if rate is not None:
        args += ["--rate", str(rate)]
    if cpus:
        args = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    result["tool"] = "python"
    return result


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(port: int, requests_file: Path, *, duration: float, connections: int = 64, threads: int = 1,
            cpus: set[int] | None = None) -> dict[str, Any]:
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "--timeout", "5s",
            "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}/v1/nooks/events", "--", str(requests_file),
            str(threads)]
    if cpus:
        args = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    raw = orjson.loads(line.removeprefix("BENCHJSON "))
    seconds = raw["duration_us"] / 1e6
    return {
        "tool": "wrk",
        "mode": "closed",
        "connections": connections,
        "requests": raw["requests"],
        "elapsed_s": round(seconds, 3),
        "rate": round(raw["requests"] / seconds, 1),
        "non_2xx": raw["status"],
        "errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        "latency_ms": {k: round(v / 1000, 3) for k, v in raw["latency_us"].items()},
        "wrapped": raw["wrapped"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=None)
    args = parser.parse_args()
    import uvloop

    requests = load_requests(args.requests)
    # A GC pass in the generator would delay sends and be measured as the server's latency: none during a run.
    gc.collect()
    gc.freeze()
    gc.disable()
    result = uvloop.run(run(args.port, requests, duration=min(args.duration, 120.0), connections=args.connections,
                            rate=args.rate))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
