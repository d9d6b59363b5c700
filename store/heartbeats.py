"""Workers alive: each worker writes a heartbeat (jobs in flight, pid, host) and its reps' rate budgets."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from store import keys

HEARTBEAT_TTL_SECONDS = 60  # a worker silent this long is gone
FORGET_AFTER_SECONDS = 24 * 3600
BUDGET_TTL_SECONDS = 3600  # Outreach's window is an hour


@dataclass(frozen=True)
class WorkerBeat:
    worker_id: str
    last_beat: float
    in_flight: int
    pid: int
    host: str


@dataclass(frozen=True)
class Budget:
    remaining: int | None
    reset_at: float
    limit: int | None


class Heartbeats:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def beat_into(self, pipe: Pipeline, worker_id: str, *, in_flight: int, pid: int, host: str,
                  budgets: dict[tuple[str, str], Budget]) -> None:
        now = time.time()
        pipe.zadd(keys.WORKERS, {worker_id: now})
        pipe.zremrangebyscore(keys.WORKERS, 0, now - FORGET_AFTER_SECONDS)
        pipe.set(keys.worker(worker_id), orjson.dumps({"in_flight": in_flight, "pid": pid, "host": host}),
                 ex=HEARTBEAT_TTL_SECONDS)
        for (team_id, rep_email), budget in budgets.items():
            key = keys.rate_budget(team_id, rep_email)
            pipe.hset(key, mapping={"remaining": "" if budget.remaining is None else str(budget.remaining),
                                    "limit": "" if budget.limit is None else str(budget.limit),
                                    "reset_at": str(budget.reset_at)})
            pipe.expire(key, BUDGET_TTL_SECONDS)

    async def workers(self) -> list[WorkerBeat]:
        """Workers that beat within the last day, newest beat first (alive = beat within HEARTBEAT_TTL)."""
        members = await self._redis.zrevrangebyscore(keys.WORKERS, "+inf", time.time() - FORGET_AFTER_SECONDS,
                                                     start=0, num=100, withscores=True)
        if not members:
            return []
        details = await self._redis.mget([keys.worker(m.decode()) for m, _ in members])
        beats = []
        for (member, score), raw in zip(members, details, strict=True):
            info = orjson.loads(raw) if raw else {}
            beats.append(WorkerBeat(member.decode(), float(score), int(info.get("in_flight", 0)),
                                    int(info.get("pid", 0)), str(info.get("host", ""))))
        return beats

    async def budgets(self, reps: list[tuple[str, str]]) -> dict[tuple[str, str], Budget]:
        if not reps:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for team_id, rep_email in reps:
                pipe.hgetall(keys.rate_budget(team_id, rep_email))
            replies = await pipe.execute()
        found = {}
        for rep, raw in zip(reps, replies, strict=True):
            if raw:
                remaining, limit = raw.get(b"remaining", b""), raw.get(b"limit", b"")
                found[rep] = Budget(int(remaining) if remaining else None, float(raw.get(b"reset_at", b"0")),
                                    int(limit) if limit else None)
        return found
