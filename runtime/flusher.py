"""Writes each process's buffered figures (store/telemetry.py), story steps (store/history.py) and, in a
worker, its heartbeat, four times a second, in pipelines of at most STEPS_PER_PIPELINE story steps: packing one
huge pipeline held the event loop long enough to show in ingress's p99 (docs/ops.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from store.heartbeats import Budget, Heartbeats
from store.history import EventHistory
from store.telemetry import Telemetry

log = logging.getLogger("runtime.flusher")

FLUSH_SECONDS = 0.25
HEARTBEAT_SECONDS = 5.0
STEPS_PER_PIPELINE = 200


class Flusher:
    def __init__(self, redis: Redis, telemetry: Telemetry, history: EventHistory, heartbeats: Heartbeats) -> None:
        self._redis = redis
        self._telemetry = telemetry
        self._history = history
        self._heartbeats = heartbeats
        self._task: asyncio.Task[None] | None = None
        self._in_flight: Callable[[], int] | None = None
        self._budgets: Callable[[], dict[tuple[str, str], Budget]] = dict
        self._last_beat = 0.0
        self._failing = False
        self._flushing = asyncio.Lock()  # one flush at a time: a caller's flush returns once nothing is in flight
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def as_worker(self, in_flight: Callable[[], int], budgets: Callable[[], dict[tuple[str, str], Budget]]) -> None:
        """Also beat as a worker: jobs in flight and the reps' rate budgets as this process last saw them."""
        self._in_flight = in_flight
        self._budgets = budgets

    def beat_next(self) -> None:
        """Beat at the next flush rather than when the interval is up (the heartbeat was lost, e.g. Redis emptied)."""
        self._last_beat = 0.0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="flusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        task = asyncio.current_task()
        # Not `while True`: redis-py swallows a cancellation that lands inside a pipeline, and `stop` would wait
        # forever; Python still counts the request (`Task.cancelling`).
        while task is None or not task.cancelling():
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        beat = self._in_flight is not None and time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS
        if not (beat or self._telemetry.pending() or self._history.pending()):
            return
        try:
            first = True
            while first or self._history.pending():
                async with self._redis.pipeline(transaction=False) as pipe:
                    if first:
                        self._telemetry.drain_into(pipe)
                        if beat and self._in_flight is not None:
                            self._heartbeats.beat_into(pipe, self.worker_id, in_flight=self._in_flight(),
                                                       pid=os.getpid(), host=socket.gethostname(),
                                                       budgets=self._budgets())
                            self._last_beat = time.monotonic()
                    await self._history.drain_into(pipe, STEPS_PER_PIPELINE)
                    await pipe.execute()
                first = False
            if self._failing:
                log.info("figures written to Redis again")
            self._failing = False
        except (RedisError, OSError) as error:
            # Chart figures and story steps of this moment are dropped, not queued up without bound.
            self._history.discard()
            if not self._failing:
                log.warning("could not write figures to Redis (%s); dropping them until it answers",
                            type(error).__name__)
            self._failing = True
