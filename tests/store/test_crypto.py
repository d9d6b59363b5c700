"""Tokens at rest: Fernet, with rotation through the key list."""

from __future__ import annotations

from cryptography.fernet import Fernet
from redis.asyncio import Redis

from schemas.connection import TokenSet
from store.connections import ConnectionStore
from store.crypto import TokenCipher


def test_first_key_encrypts_every_key_decrypts() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_with_old = TokenCipher([old]).encrypt(b"secret")
    both = TokenCipher([new, old])
    assert both.decrypt(sealed_with_old) == b"secret"
    rotated = both.rotate(sealed_with_old)
    assert rotated is not None
    assert TokenCipher([new]).decrypt(rotated) == b"secret"
    assert TokenCipher([old]).decrypt(rotated) is None  # the old key alone no longer opens it


async def test_rotation_reencrypts_stored_tokens(redis_server) -> None:  # type: ignore[no-untyped-def]
    redis = Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/5")
    await redis.flushdb()
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    tokens = TokenSet(access_token="a", refresh_token="r", expires_at=1.0, scopes=["calls.all"])
    await ConnectionStore(redis, TokenCipher([old])).save_tokens("team_acme", "ana@acme.com", tokens)
    assert await ConnectionStore(redis, TokenCipher([new, old])).rotate_encryption() == 1
    assert await ConnectionStore(redis, TokenCipher([new])).tokens("team_acme", "ana@acme.com") == tokens
    await redis.flushdb()
    await redis.aclose()
