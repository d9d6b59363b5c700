"""A small Redis lock (SET NX PX + compare-and-delete) shared by every process."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lock:
    def __init__(self, redis: Redis, key: str, ttl_ms: int) -> None:
        self._redis = redis
        self.key = key
        self._ttl_ms = ttl_ms
        self._token = secrets.token_hex(16)

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self.key, self._token, nx=True, px=self._ttl_ms))

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self._token)

    # For scripts that take or release the lock as one step of their own (store/calls.py).
    @property
    def token(self) -> str:
        return self._token

    @property
    def ttl_ms(self) -> int:
        return self._ttl_ms
