"""One way to open Redis, shared by web and worker."""

from __future__ import annotations

import os

from redis.asyncio import BlockingConnectionPool, Redis

# More concurrent requests (web) or jobs (worker, WORKER_MAX_JOBS) than connections must wait for one, not fail:
# redis-py's default pool raises "Too many connections", which became spurious 503s and job retries under load
# (docs/benchmarks.md). A wait longer than POOL_TIMEOUT_SECONDS is still an error (503 / retry).
MAX_CONNECTIONS = int(os.environ.get("REDIS_MAX_CONNECTIONS") or 64)
POOL_TIMEOUT_SECONDS = 5


def connect(url: str, *, max_connections: int | None = None) -> Redis:
    # decode_responses stays off: arq shares the pool and stores bytes.
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections or MAX_CONNECTIONS,
                                           timeout=POOL_TIMEOUT_SECONDS, health_check_interval=30)
    redis: Redis = Redis.from_pool(pool)
    return redis
