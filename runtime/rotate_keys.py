"""`python -m runtime.rotate_keys`: re-encrypt every stored OAuth token and webhook secret with the first
TOKEN_ENCRYPTION_KEYS key.

Rotation: put the new key first (keep the old ones after it), deploy, run this, then drop the old keys. Safe
while the service runs: each value is swapped only if it is still what was read (a token refreshed meanwhile
is already sealed with the first key).
"""

from __future__ import annotations

import asyncio

from schemas.settings import load_settings
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.redis import connect
from store.subscriptions import SubscriptionStore


async def rotate() -> tuple[int, int]:
    """(connections, webhook secrets) re-encrypted."""
    settings = load_settings()
    redis = connect(settings)
    cipher = TokenCipher(settings.encryption_keys)
    try:
        return (await ConnectionStore(redis, cipher).rotate_encryption(),
                await SubscriptionStore(redis, cipher).rotate_encryption())
    finally:
        await redis.aclose()


def main() -> None:
    tokens, secrets = asyncio.run(rotate())
    print(f"re-encrypted with the first key: the tokens of {tokens} connection(s), {secrets} webhook secret(s)")


if __name__ == "__main__":
    main()
