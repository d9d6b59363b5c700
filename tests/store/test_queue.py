"""The jobs ingress writes: arq-compatible JSON carrying the event id and, for a call, the ids that key it."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from store import jobs, keys
from store.job_queue import JobWriter
from store.outreach_changes import OutreachInbox
from store.queue import EventQueue


async def job_args(redis: Redis, job_id: str) -> list[object]:
    raw = await redis.get(keys.ARQ_JOB + job_id)
    assert raw is not None
    job = orjson.loads(raw)
    assert job["f"] == jobs.LOG_CALL and job["k"] == {}
    args: list[object] = job["a"]
    return args


async def test_a_call_job_names_its_call_and_a_requeued_one_its_event_only(redis: Redis) -> None:
    queue = EventQueue(redis, JobWriter(redis))
    assert await queue.accept("evt_1", b'{"id":"evt_1"}', call=("team_acme", "call_1", "ana@acme.com"))
    assert await job_args(redis, "evt_1") == ["evt_1", ["team_acme", "call_1", "ana@acme.com"]]
    assert await redis.get(keys.event("evt_1")) == b'{"id":"evt_1"}'
    assert not await queue.accept("evt_1", b'{"id":"evt_1"}', call=("team_acme", "call_1", "ana@acme.com"))
    assert await queue.requeue("evt_1")
    requeued = [job.decode() for job in await redis.zrange(keys.QUEUE, 0, -1) if job != b"evt_1"]
    assert len(requeued) == 1 and await job_args(redis, requeued[0]) == ["evt_1"]



async def queued_after(redis: Redis, before: set[bytes]) -> list[str]:
    return [job.decode() for job in await redis.zrange(keys.QUEUE, 0, -1) if job not in before]


async def test_a_call_job_is_kept_until_run_while_other_jobs_expire_as_arqs_do(redis: Redis) -> None:
    # arq drops a job whose key has expired; an acknowledged call must wait however long the workers are down.
    before = set(await redis.zrange(keys.QUEUE, 0, -1))
    queue = EventQueue(redis, JobWriter(redis))
    assert await queue.accept("evt_2", b'{"id":"evt_2"}', call=("team_acme", "call_2", "ana@acme.com"))
    assert await queue.requeue("evt_2")
    calls = await queued_after(redis, before)
    assert len(calls) == 2 and [await redis.pttl(keys.ARQ_JOB + job_id) for job_id in calls] == [-1, -1]
    assert await OutreachInbox(redis, JobWriter(redis)).queue_subscription_sync("team_acme", "ana@acme.com")
    (sync,) = await queued_after(redis, before | {c.encode() for c in calls})
    assert await redis.pttl(keys.ARQ_JOB + sync) > 0
