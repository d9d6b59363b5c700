"""The durable queue: Nooks events stored once, with their arq job, in one Redis round trip.

arq's stock `enqueue_job` costs several round trips (WATCH, EXISTS, MULTI); ingress instead runs one Lua
script that dedupes on the `webhook-id`, stores the event and writes an arq-compatible job, atomically. Jobs
are JSON (never pickle) and carry the event id and, for a call, the three ids its Redis records are keyed by
(team, call id, rep email), so the job's first round trip can read the event together with everything else
(store/calls.py); never the call's content, so arq's logs never show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.arq_internals import job_payload, job_ttl_ms
from store import jobs, keys

SEEN_TTL_SECONDS = 7 * 24 * 3600

# Dedupe and queue in one round trip. KEYS: seen, job, result, retry, queue, body, also seen.
# ARGV: job payload, score, job id, seen ttl, body, job ttl (ms; 0 = kept until run). An empty job id only records
# the dedupe key (accepted, nothing to do); an empty body stores none (the job carries what it needs). The second
# dedupe key (the same key as the first when there is none) is checked and recorded with the first.
_ACCEPT = """
if KEYS[7] ~= KEYS[1] and redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) == false then return 0 end
if KEYS[7] ~= KEYS[1] then redis.call('SET', KEYS[7], '1', 'EX', ARGV[4]) end
if ARGV[3] == '' then return 1 end
if ARGV[5] ~= '' then redis.call('SET', KEYS[6], ARGV[5]) end
redis.call('DEL', KEYS[3], KEYS[4])
if ARGV[6] == '0' then redis.call('SET', KEYS[2], ARGV[1]) else redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[6]) end
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
return 1
"""

# Queue a job. KEYS: job, queue, guard. ARGV: payload, score, job id, mode: 'guard' = only while the guard key
# exists (e.g. the stored event), 'new' = only when no job with this id is waiting; job ttl (ms; 0 = kept until run).
_ENQUEUE = """
if ARGV[4] == 'guard' and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if ARGV[4] == 'new' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[5] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


def ttl_for(function: str, now_ms: int) -> int:
    """A call's job is kept until a worker runs it (0): arq drops a job whose key expired, and an acknowledged
    event must never vanish because the workers were down for a day. Other jobs (notifications, syncs) are
    redone by reconciliation and repair runs, so they keep the TTL `enqueue_job` would give them."""
    return 0 if function == jobs.LOG_CALL else job_ttl_ms(now_ms, now_ms)


class JobWriter:
    """Writes arq-compatible JSON jobs straight into the queue, with Lua instead of arq's several round trips."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._accept = redis.register_script(_ACCEPT)
        self._enqueue = redis.register_script(_ENQUEUE)

    async def accept_once(self, seen_key: str, seen_ttl: int, function: str, args: list[Any], job_id: str,
                          *, body_key: str = "", body: bytes = b"", also_seen: str = "",
                          replicas: Replicas | None = None) -> bool:
        """Record `seen_key` (and `also_seen`) and, unless `job_id` is empty, queue the job (and store `body`);
        False when either was already recorded, in which case nothing is written. With `replicas`, return only
        once that many replicas have the write (else NotReplicated)."""
        now_ms = int(time.time() * 1000)
        payload = job_payload(function, args, now_ms) if job_id else b""
        script_keys = [seen_key, keys.ARQ_JOB + job_id, keys.ARQ_RESULT + job_id, keys.ARQ_RETRY + job_id,
                       keys.QUEUE, body_key or seen_key, also_seen or seen_key]
        script_args: list[bytes | str | int] = [payload, now_ms, job_id, seen_ttl, body, ttl_for(function, now_ms)]
        if replicas is None or replicas.count == 0:
            return bool(await self._accept(keys=script_keys, args=script_args))
        # WAIT counts the writes of its own connection: one pipeline keeps both on one.
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._accept(keys=script_keys, args=script_args, client=pipe)
            pipe.execute_command("WAIT", replicas.count, replicas.timeout_ms)
            result, acknowledged = await pipe.execute()
        if int(acknowledged) < replicas.count:
            raise NotReplicated(int(acknowledged), replicas.count)
        return bool(result)

    async def enqueue(self, job_id: str, function: str, args: list[Any], *, while_exists: str = "",
                      only_new: bool = False) -> bool:
        """Queue a job; with `while_exists`, only if that key exists; with `only_new`, only if no job with this
        id is waiting. True when queued."""
        now_ms = int(time.time() * 1000)
        mode = "guard" if while_exists else "new" if only_new else ""
        result = await self._enqueue(keys=[keys.ARQ_JOB + job_id, keys.QUEUE, while_exists or keys.QUEUE],
                                     args=[job_payload(function, args, now_ms), now_ms, job_id, mode,
                                           ttl_for(function, now_ms)])
        return bool(result)


@dataclass(frozen=True)
class Replicas:
    """How many replicas must hold an event before it is acknowledged (REDIS_WAIT_REPLICAS), and how long to wait."""

    count: int
    timeout_ms: int


class NotReplicated(RedisError):
    """Stored on the master, but fewer replicas than required confirmed it in time: answer as if not stored."""

    def __init__(self, acknowledged: int, required: int) -> None:
        super().__init__(f"{acknowledged} of {required} replicas confirmed the write in time")


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

