"""Tokens at rest: Fernet with rotation (first key encrypts, every key decrypts)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from redis.asyncio import Redis

# Replace a hash field only if it still holds what was read: a rotation never overwrites a concurrent write
# (a token refresh, a re-subscription), which is already sealed with the first key. KEYS: hash. ARGV: field,
# expected, new.
_SWAP_FIELD = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""


class TokenCipher:
    def __init__(self, keys: list[str]) -> None:
        self._first = Fernet(keys[0])
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def under_first_key(self, ciphertext: bytes) -> bool:
        """Sealed with the first key: the older keys may be retired as far as this value goes."""
        try:
            self._first.decrypt(ciphertext)
        except InvalidToken:
            return False
        return True

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes | None:
        """None when no configured key opens it (a key was retired too early)."""
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            return None

    def rotate(self, ciphertext: bytes) -> bytes | None:
        """Sealed again with the first key; None when no configured key opens it."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken:
            return None


class FieldSwap:
    """Compare-and-set of one hash field, in one round trip."""

    def __init__(self, redis: Redis) -> None:
        self._swap = redis.register_script(_SWAP_FIELD)

    async def __call__(self, key: str, field: str, expected: bytes, new: bytes) -> bool:
        return bool(await self._swap(keys=[key], args=[field, expected, new]))
