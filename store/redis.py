"""One way to open Redis, shared by web and worker: one server (`REDIS_URL`) or the master Sentinel names.

Also what "Redis is unavailable for now" means (restarting, loading its data, failing over): every process waits
that out instead of exiting, and `check_durability` warns at start about settings that could lose events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError, ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from schemas.settings import Settings

# More concurrent requests (web) or jobs (worker, WORKER_MAX_JOBS) than connections (REDIS_MAX_CONNECTIONS) must
# wait for one, not fail: redis-py's default pool raises "Too many connections", which became spurious 503s and job
# retries under load (docs/benchmarks.md). A wait longer than POOL_TIMEOUT_SECONDS is still an error (503 / retry).
POOL_TIMEOUT_SECONDS = 5
# A command on a dead host fails after this long instead of hanging a request or a job.
SOCKET_TIMEOUT_SECONDS = 5.0

# Redis is down, restarting, still loading its append-only file (`LOADING` is a BusyLoadingError, a
# ConnectionError), or failing over (a demoted master answers READONLY, a replica cut off MASTERDOWN, Sentinel
# may name no master for a moment): all pass by themselves. Processes wait; web answers 503 meanwhile.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, ReadOnlyError,
                                           MasterDownError, OSError)


# While Redis is unavailable, how long a process waits between tries: growing from the first to the cap.
OUTAGE_FIRST_WAIT_SECONDS = 0.1
OUTAGE_MAX_WAIT_SECONDS = 1.0


def outage_waits() -> Iterator[float]:
    """The waits between tries while Redis is unavailable: 0.1 s, doubling, then 1 s for as long as it lasts."""
    wait = OUTAGE_FIRST_WAIT_SECONDS
    while True:
        yield wait
        wait = min(wait * 2, OUTAGE_MAX_WAIT_SECONDS)


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's master discovery with the same wait-for-a-connection behaviour as the single-server pool."""


def _connection_options() -> dict[str, Any]:
    # One quick retry on a fresh connection covers the pooled connections a Redis restart or failover closed;
    # anything longer is the caller's (a 503, a job handed back).
    return {"socket_timeout": SOCKET_TIMEOUT_SECONDS, "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError], "health_check_interval": 30}


def master_options(url: str) -> dict[str, Any]:
    """What of REDIS_URL still applies to the master Sentinel names: its username, password, database
    and TLS (`rediss://`, with any `ssl_*` options of its query); only its host and port give way to Sentinel's."""
    parsed: dict[str, Any] = dict(parse_url(url))
    dropped = ("host", "port", "path", "connection_class")
    options = {name: value for name, value in parsed.items() if name not in dropped}
    if issubclass(parsed.get("connection_class", object), SSLConnection):
        options["ssl"] = True
    return options


def connect(settings: Settings | str, *, max_connections: int | None = None) -> Redis:
    """A client for the master: through Sentinel when REDIS_SENTINELS is set, else REDIS_URL (or this URL)."""
    # decode_responses stays off: arq stores bytes.
    size = max_connections or (settings.redis_max_connections if isinstance(settings, Settings)
                               else Settings.model_fields["redis_max_connections"].default)
    if isinstance(settings, Settings) and settings.redis_sentinels:
        sentinel_options: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        if settings.redis_sentinel_password is not None:
            sentinel_options["password"] = settings.redis_sentinel_password.get_secret_value()
        sentinel = Sentinel(settings.redis_sentinels,  # type: ignore[no-untyped-call]
                            sentinel_kwargs=sentinel_options)
        client: Redis = sentinel.master_for(settings.redis_sentinel_master or "",
                                            connection_pool_class=BlockingSentinelPool, max_connections=size,
                                            timeout=POOL_TIMEOUT_SECONDS, **_connection_options(),
                                            **master_options(settings.redis_url))
        return client
    url = settings if isinstance(settings, str) else settings.redis_url
    pool = BlockingConnectionPool.from_url(url, max_connections=size, timeout=POOL_TIMEOUT_SECONDS,
                                           **_connection_options())
    redis: Redis = Redis.from_pool(pool)
    return redis


# What production needs (README "Redis in production"): an acknowledged event must survive a restart (AOF) and
# never be evicted to make room (noeviction).
REQUIRED_CONFIG = {"appendonly": "yes", "maxmemory-policy": "noeviction"}


async def check_durability(redis: Redis) -> list[str]:
    """Warnings about Redis settings that could lose acknowledged events; [] when all is well or unknowable
    (hosted Redis often refuses CONFIG: its provider's settings then apply, and the README says which)."""
    warnings = []
    for name, wanted in REQUIRED_CONFIG.items():
        try:
            found = await redis.config_get(name)
        except UNAVAILABLE:
            raise
        except RedisError:
            return []
        value = found.get(name.encode()) or found.get(name)
        actual = value.decode() if isinstance(value, bytes) else value
        if actual is not None and actual != wanted:
            warnings.append(f"Redis {name} is {actual!r}, production needs {wanted!r} (acknowledged events could be "
                            "lost)")
    return warnings
