"""One way to open Redis, shared by web and worker."""

from __future__ import annotations

from redis.asyncio import Redis


def connect(url: str, *, max_connections: int = 64) -> Redis:
    # decode_responses stays off: arq shares the pool and stores bytes.
    redis: Redis = Redis.from_url(url, max_connections=max_connections, health_check_interval=30)
    return redis
