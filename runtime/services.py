"""One bundle of long-lived resources per process, opened at start and closed at stop."""

from __future__ import annotations

import os
from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis

from outreach.client import OutreachClient
from outreach.tokens import TokenManager
from schemas.settings import Settings
from store.calls import CallLedger
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.dead_letters import DeadLetters
from store.links import LinkStore
from store.parking import ParkingLot
from store.queue import EventQueue
from store.redis import connect
from store.users import UserDirectory

# Concurrent sockets to Outreach per process (opened only as needed). A log_call job has up to 4 requests in
# flight at once: at 256, jobs queued for a socket once Outreach took 200 ms (202 vs 231 calls/s, docs/tuning.md).
OUTREACH_CONNECTIONS = int(os.environ.get("OUTREACH_CONNECTIONS") or 800)


@dataclass
class Services:
    settings: Settings
    redis: Redis
    http: aiohttp.ClientSession
    connections: ConnectionStore
    users: UserDirectory
    queue: EventQueue
    parking: ParkingLot
    dead_letters: DeadLetters
    calls: CallLedger
    links: LinkStore
    tokens: TokenManager
    outreach: OutreachClient

    @classmethod
    def open(cls, settings: Settings, redis: Redis | None = None) -> Services:
        redis = redis if redis is not None else connect(settings.redis_url)
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=OUTREACH_CONNECTIONS, ttl_dns_cache=300),
            # One session serves every rep: a cookie Outreach sets for one must never ride along for another
            # (and not parsing cookies saves CPU on every request).
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        connections = ConnectionStore(redis, TokenCipher(settings.token_encryption_keys))
        queue = EventQueue(redis)
        tokens = TokenManager(redis, connections, http, settings)
        return cls(
            settings=settings,
            redis=redis,
            http=http,
            connections=connections,
            users=UserDirectory(redis),
            queue=queue,
            parking=ParkingLot(redis, queue),
            dead_letters=DeadLetters(redis, queue),
            calls=CallLedger(redis),
            links=LinkStore(redis),
            tokens=tokens,
            outreach=OutreachClient(http, tokens, settings.outreach_api_url),
        )

    async def close(self) -> None:
        await self.http.close()
        await self.redis.aclose()
