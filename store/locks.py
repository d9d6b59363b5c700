"""The one Redis lock (SET NX PX + compare-and-delete) every process uses, with its one way of waiting."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

POLL_SECONDS = 0.05

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

    async def acquire(self, *, wait: float = 0.0, unless: Callable[[], Awaitable[bool]] | None = None) -> bool:
        """Take the lock; True once held. With `wait`, keep trying for that many seconds while another process
        holds it, and stop early (False) as soon as `unless()` says waiting is pointless (what the holder was
        doing is done)."""
        deadline = time.monotonic() + wait
        while not await self._redis.set(self.key, self._token, nx=True, px=self._ttl_ms):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
            if unless is not None and await unless():
                return False
        return True

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self._token)

    # For scripts that take or release the lock as one step of their own (store/calls.py).
    @property
    def token(self) -> str:
        return self._token

    @property
    def ttl_ms(self) -> int:
        return self._ttl_ms
