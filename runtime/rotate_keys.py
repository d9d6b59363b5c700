"""`python -m runtime.rotate_keys`: re-encrypt every stored token with the first TOKEN_ENCRYPTION_KEYS key.

Rotation: put the new key first (keep the old ones after it), deploy, run this, then drop the old keys.
"""

from __future__ import annotations

import asyncio

from schemas.settings import load_settings
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.redis import connect


async def rotate() -> int:
    settings = load_settings()
    redis = connect(settings.redis_url)
    try:
        return await ConnectionStore(redis, TokenCipher(settings.token_encryption_keys)).rotate_encryption()
    finally:
        await redis.aclose()


def main() -> None:
    print(f"re-encrypted the tokens of {asyncio.run(rotate())} connection(s) with the first key")


if __name__ == "__main__":
    main()
