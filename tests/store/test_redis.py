"""Opening Redis through Sentinel keeps REDIS_URL's credentials and database (CONTRACT "High availability")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from schemas.settings import Settings
from store.redis import connect, master_options
from tests.support.redis_nodes import RedisNode, Sentinels


def test_what_of_redis_url_still_applies_through_sentinel() -> None:
    assert master_options("rediss://app:s3cret@redis.internal:6380/4?ssl_cert_reqs=none") == {
        "username": "app", "password": "s3cret", "db": 4, "ssl": True, "ssl_cert_reqs": "none"}
    assert master_options("redis://localhost:6379/0") == {"db": 0}


async def test_through_password_protected_sentinels_the_master_gets_the_urls_password_and_database(
        settings: Settings, tmp_path: Path) -> None:
    """Every Redis with `requirepass`, the Sentinels with their own: the master Sentinel names is opened with
    REDIS_URL's password and database (they were dropped, so a Sentinel deployment had to run Redis open)."""
    master = RedisNode(tmp_path / "master", password="master-password-1")
    sentinels = Sentinels(tmp_path / "sentinels", password="sentinel-password-1", master_password="master-password-1")
    try:
        await asyncio.to_thread(master.start)
        await asyncio.to_thread(sentinels.start, master.port)
        through_sentinel = settings.model_copy(update={
            "redis_url": "redis://:master-password-1@127.0.0.1:1/5",  # host and port give way to Sentinel's
            "redis_sentinels": [("127.0.0.1", port) for port in sentinels.ports],
            "redis_sentinel_master": sentinels.master, "redis_sentinel_password": SecretStr("sentinel-password-1")})
        redis = connect(through_sentinel)
        try:
            await redis.set("no:probe", "through sentinel")
        finally:
            await redis.aclose()
        with master.client(db=5) as direct:
            assert direct.get("no:probe") == b"through sentinel"
    finally:
        sentinels.stop()
        master.kill()
