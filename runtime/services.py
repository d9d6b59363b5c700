"""The composition root: every long-lived object of a process, built once here when it starts (the web app's
lifespan, the worker's startup), handed to handlers as `request.state.services` and to jobs as
`ctx["services"]`, and closed when it stops. Nothing else constructs stores, ciphers or clients."""

from __future__ import annotations

import os
from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis
from standardwebhooks import Webhook

from outreach.client import OutreachClient
from outreach.team_webhooks import TeamSubscriptions
from outreach.tokens import TokenManager
from runtime.flusher import Flusher
from schemas.settings import Settings
from store.audit import AuditLog
from store.calls import CallLedger
from store.connections import ConnectionStore
from store.crypto import TokenCipher
from store.dead_letters import DeadLetters
from store.heartbeats import Heartbeats
from store.history import EventHistory
from store.links import LinkStore
from store.outreach_changes import OutreachInbox
from store.parking import ParkingLot
from store.pauses import Pauses
from store.queue import EventQueue, Replicas
from store.redis import connect
from store.retries import RetryBoard
from store.subscriptions import SubscriptionStore
from store.telemetry import Telemetry
from store.users import UserDirectory

# Concurrent sockets to Outreach per process (opened only as needed). A log_call job has up to 4 requests in
# flight at once, so a pool much smaller than the jobs in flight queues them for a socket (docs/tuning.md).
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
    nooks_events: Webhook  # verifies events from Nooks (NOOKS_EVENTS_SECRET)
    subscriptions: SubscriptionStore  # Outreach webhook subscriptions and their secrets
    inbox: OutreachInbox  # Outreach changes on their way to the dialer
    webhooks: TeamSubscriptions  # keeps each team's one set of subscriptions in Outreach
    telemetry: Telemetry
    history: EventHistory
    heartbeats: Heartbeats
    retries: RetryBoard
    pauses: Pauses
    audit: AuditLog
    flusher: Flusher

    @classmethod
    def open(cls, settings: Settings, redis: Redis | None = None) -> Services:
        redis = redis if redis is not None else connect(settings)
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=OUTREACH_CONNECTIONS, ttl_dns_cache=300),
            # One session serves every rep: a cookie Outreach sets for one must never ride along for another
            # (and not parsing cookies saves CPU on every request).
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        cipher = TokenCipher(settings.encryption_keys)
        connections = ConnectionStore(redis, cipher)
        queue = EventQueue(redis, Replicas(settings.redis_wait_replicas, settings.redis_wait_timeout_ms))
        tokens = TokenManager(redis, connections, http, settings)
        users = UserDirectory(redis)
        telemetry, history, heartbeats = Telemetry(redis), EventHistory(redis), Heartbeats(redis)
        outreach = OutreachClient(http, tokens, settings.outreach_api_url, telemetry=telemetry)
        subscriptions = SubscriptionStore(redis, cipher)
        inbox = OutreachInbox(redis)
        webhooks = TeamSubscriptions(redis, outreach, subscriptions, connections, users, settings.webhook_target_url)

        async def hand_over(team_id: str, rep_email: str) -> None:
            """A rep's tokens were refused: if it holds the team's webhook set, move it now, not at the next
            repair run."""
            if await webhooks.holders.holder(team_id) == rep_email:
                await inbox.queue_subscription_sync(team_id, "")

        tokens.on_needs_reconnect = hand_over
        return cls(
            settings=settings,
            redis=redis,
            http=http,
            connections=connections,
            users=users,
            queue=queue,
            parking=ParkingLot(redis, queue, history),
            dead_letters=DeadLetters(redis, queue),
            calls=CallLedger(redis),
            links=LinkStore(redis),
            tokens=tokens,
            outreach=outreach,
            nooks_events=Webhook(settings.nooks_events_secret.get_secret_value()),
            subscriptions=subscriptions,
            inbox=inbox,
            webhooks=webhooks,
            telemetry=telemetry,
            history=history,
            heartbeats=heartbeats,
            retries=RetryBoard(redis),
            pauses=Pauses(redis),
            audit=AuditLog(redis),
            flusher=Flusher(redis, telemetry, history, heartbeats),
        )

    async def close(self) -> None:
        await self.flusher.stop()
        await self.http.close()
        await self.redis.aclose()
