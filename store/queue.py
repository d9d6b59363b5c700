"""The durable queue: Nooks events stored once, with their arq job, in one Redis round trip.

Ingress runs one Lua script (store/job_queue.py `JobWriter`) that dedupes on the `webhook-id`, stores the event
and writes its job, atomically. Jobs are JSON (never pickle) and carry the event id and, for a call, the three
ids its Redis records are keyed by (team, call id, rep email), so the job's first round trip can read the event
together with everything else (store/calls.py); never the call's content, so no log line shows it.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from store import jobs, keys
from store.job_queue import JobWriter, Replicas

SEEN_TTL_SECONDS = 7 * 24 * 3600


class EventQueue:
    def __init__(self, redis: Redis, writer: JobWriter, replicas: Replicas | None = None) -> None:
        self._redis = redis
        self._jobs = writer
        self._replicas = replicas

    async def accept(self, event_id: str, body: bytes, *, queue: bool = True,
                     call: tuple[str, str, str] | None = None) -> bool:
        """Store and queue a new event; False when this `webhook-id` was seen before.

        `call`: the event's (team id, call id, rep email) as validated, for the job to carry. With `queue=False`
        only the dedupe key is written (events we record as ignored).
        """
        args: list[Any] = [event_id] if call is None else [event_id, list(call)]
        return await self._jobs.accept_once(keys.seen_event(event_id), SEEN_TTL_SECONDS, jobs.LOG_CALL, args,
                                            jobs.log_call_id(event_id) if queue else "",
                                            body_key=keys.event(event_id), body=body, replicas=self._replicas)

    async def requeue(self, event_id: str) -> bool:
        """Queue a stored event again (parked or dead-lettered), while it is still stored."""
        job_id = jobs.requeued_call_id(event_id, int(time.time() * 1000))
        return await self._jobs.enqueue(job_id, jobs.LOG_CALL, [event_id], while_exists=keys.event(event_id))

    async def event_body(self, event_id: str) -> bytes | None:
        raw: bytes | None = await self._redis.get(keys.event(event_id))
        return raw

    async def forget_event(self, event_id: str) -> None:
        await self._redis.delete(keys.event(event_id))

    async def depth(self) -> int:
        return int(await self._redis.zcard(keys.QUEUE))

    async def record_ignored(self, event_id: str, event_type: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.lpush(keys.IGNORED, orjson.dumps({"event_id": event_id, "type": event_type[:100],
                                                   "at": int(time.time())}))
            pipe.ltrim(keys.IGNORED, 0, 999)
            await pipe.execute()

