"""Store tests talk to a real Redis, in a database of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tools.embedded_redis import EmbeddedRedis


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    # A database of its own: the service's worker consumes the queue in database 0.
    client = Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/15")
    assert client.connection_pool.connection_kwargs["db"] == 15
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()
