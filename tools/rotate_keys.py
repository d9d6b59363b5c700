"""`python -m tools.rotate_keys`: re-encrypt every stored OAuth token and webhook secret with the first
TOKEN_ENCRYPTION_KEYS key. `--check`: change nothing, exit 1 while any stored value is not under the first key.

Rotation: put the new key first (keep the old ones after it), deploy, run this, then `--check` (0: the old keys
may be dropped). Safe while the service runs: each value is swapped only if it is still what was read (a token
refreshed meanwhile is already sealed with the first key).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from schemas.settings import load_settings
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.redis import connect
from store.subscriptions import SubscriptionStore


async def rotate(*, check: bool = False) -> tuple[int, int]:
    """(connections, webhook secrets) re-encrypted; with `check`, how many are not under the first key."""
    settings = load_settings()
    redis = connect(settings)
    cipher = TokenCipher(settings.encryption_keys)
    connections, subscriptions = ConnectionStore(redis, cipher), SubscriptionStore(redis, cipher)
    try:
        if check:
            return await connections.not_under_first_key(), await subscriptions.not_under_first_key()
        return await connections.rotate_encryption(), await subscriptions.rotate_encryption()
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rotate_keys", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 while any stored value is not under the first key")
    check = parser.parse_args(argv).check
    tokens, secrets = asyncio.run(rotate(check=check))
    if not check:
        print(f"re-encrypted with the first key: the tokens of {tokens} connection(s), {secrets} webhook secret(s)")
        return 0
    if tokens or secrets:
        print(f"not under the first key yet: the tokens of {tokens} connection(s), {secrets} webhook secret(s); "
              "run python -m tools.rotate_keys before dropping an old key")
        return 1
    print("every stored token and webhook secret is under the first key: the older keys may be dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
