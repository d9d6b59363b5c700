"""`python -m tools.rotate_keys`: every secret at rest moves to the first key, and a concurrent write wins."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import redis as sync_redis
from cryptography.fernet import Fernet

from schemas.connection import TokenSet
from store import keys
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.subscriptions import SubscriptionStore
from tests.support.outreach_hooks import REP, TEAM, connect_with_webhooks
from tests.support.service import Service

ROOT = Path(__file__).resolve().parents[2]


async def rotate_keys(svc: Service, keys_: list[str], *args: str) -> tuple[int, str]:
    """The real command, as an operator runs it."""
    env = {**os.environ, "REDIS_URL": svc.settings.redis_url, "NOOKS_EVENTS_SECRET": "whsec_" + "A" * 32,
           "NOOKS_API_TOKEN": "t" * 32, "TOKEN_ENCRYPTION_KEYS": ",".join(keys_)}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "tools.rotate_keys", *args, cwd=ROOT,
                                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
    assert process.returncode is not None
    return process.returncode, output


async def test_rotation_reencrypts_tokens_and_webhook_secrets(svc: Service) -> None:
    subs = await connect_with_webhooks(svc)
    new = Fernet.generate_key().decode()
    rotating = [new, *svc.settings.encryption_keys]
    status, output = await rotate_keys(svc, rotating, "--check")  # nothing is under the new key yet
    assert status == 1 and "the tokens of 1 connection(s), 5 webhook secret(s)" in output, output
    status, output = await rotate_keys(svc, rotating)
    assert status == 0 and "1 connection(s), 5 webhook secret(s)" in output, output
    status, output = await rotate_keys(svc, rotating, "--check")
    assert status == 0 and "may be dropped" in output, output
    only_new = TokenCipher([new])  # the old keys retired
    assert await ConnectionStore(svc.redis, only_new).tokens(TEAM, REP) is not None
    reopened = await SubscriptionStore(svc.redis, only_new).for_rep(TEAM, REP)
    assert {r: s.secret for r, s in reopened.items()} == {r: s.secret for r, s in subs.items()}


class RacingCipher(TokenCipher):
    """Rotates, and while it does, a token refresh in another process stores fresh tokens."""

    def __init__(self, keys_: list[str], redis_url: str, fresh_blob: bytes) -> None:
        super().__init__(keys_)
        self._redis_url, self._fresh_blob = redis_url, fresh_blob

    def rotate(self, ciphertext: bytes) -> bytes | None:
        rotated = super().rotate(ciphertext)
        with sync_redis.Redis.from_url(self._redis_url) as other_process:
            other_process.hset(keys.connection(TEAM, REP), "tokens", self._fresh_blob)
        return rotated


async def test_rotation_never_overwrites_a_concurrent_token_refresh(svc: Service) -> None:
    assert (await svc.connect())[0] == 200
    new = Fernet.generate_key().decode()
    rotating = [new, *svc.settings.encryption_keys]
    refreshed = TokenSet(access_token="refreshed-access", refresh_token="refreshed-refresh", expires_at=2e9)
    fresh_blob = TokenCipher(rotating).encrypt(refreshed.model_dump_json().encode())
    cipher = RacingCipher(rotating, svc.settings.redis_url, fresh_blob)
    assert await ConnectionStore(svc.redis, cipher).rotate_encryption() == 0  # lost the race: nothing written
    assert await ConnectionStore(svc.redis, TokenCipher([new])).tokens(TEAM, REP) == refreshed
