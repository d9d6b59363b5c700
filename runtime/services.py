"""The composition root: every long-lived object of a process, built once here when it starts (the web app's
lifespan, the worker's startup), handed to handlers as `request.state.services` and to jobs as
`ctx["services"]`, and closed when it stops. Nothing else constructs stores, ciphers or clients.

They come in three groups, each built from the one before: `stores` (everything kept in Redis), `outreach`
(what speaks to Outreach) and `ops` (what operators see: figures, event stories, heartbeats, the retry board,
the audit log, and the flusher that writes the buffered ones). The process's one Redis pool, one HTTP session
and its settings sit beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis
from standardwebhooks import Webhook

from outreach.client import OutreachClient
from outreach.team_webhooks import TeamSubscriptions, hand_over_on_reconnect
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
from store.job_queue import JobWriter, Replicas
from store.links import LinkStore
from store.outcome_rules import OutcomeRuleStore
from store.outreach_changes import OutreachInbox
from store.parking import ParkingLot
from store.pauses import Pauses
from store.queue import EventQueue
from store.redis import connect
from store.retries import RetryBoard
from store.subscriptions import SubscriptionStore
from store.telemetry import Telemetry
from store.users import UserDirectory
from store.webhook_holders import HolderStore


@dataclass(frozen=True)
class Ops:
    """What operators see (/ops, /metrics): written by every process, read by the web's dashboard."""

    telemetry: Telemetry  # figures: counters, histograms, per-minute counts
    history: EventHistory  # each event's story
    heartbeats: Heartbeats
    retries: RetryBoard
    audit: AuditLog
    flusher: Flusher  # writes the buffered figures, story steps and heartbeat

    @classmethod
    def open(cls, redis: Redis) -> Ops:
        telemetry, history, heartbeats = Telemetry(redis), EventHistory(redis), Heartbeats(redis)
        return cls(telemetry=telemetry, history=history, heartbeats=heartbeats, retries=RetryBoard(redis),
                   audit=AuditLog(redis), flusher=Flusher(redis, telemetry, history, heartbeats))


@dataclass(frozen=True)
class Stores:
    """Everything kept in Redis (store/), one object per concept, sharing one cipher and one job writer."""

    connections: ConnectionStore
    users: UserDirectory
    outcome_rules: OutcomeRuleStore  # each team's after_call per disposition
    queue: EventQueue
    parking: ParkingLot
    dead_letters: DeadLetters
    calls: CallLedger
    links: LinkStore
    pauses: Pauses
    subscriptions: SubscriptionStore  # Outreach webhook subscriptions and their secrets
    holders: HolderStore  # which rep holds each team's set of subscriptions
    inbox: OutreachInbox  # Outreach changes on their way to the dialer

    @classmethod
    def open(cls, redis: Redis, settings: Settings, history: EventHistory) -> Stores:
        cipher = TokenCipher(settings.encryption_keys)
        jobs = JobWriter(redis)
        queue = EventQueue(redis, jobs, Replicas(settings.redis_wait_replicas, settings.redis_wait_timeout_ms))
        return cls(connections=ConnectionStore(redis, cipher), users=UserDirectory(redis),
                   outcome_rules=OutcomeRuleStore(redis), queue=queue,
                   parking=ParkingLot(redis, queue, history), dead_letters=DeadLetters(redis, queue),
                   calls=CallLedger(redis), links=LinkStore(redis), pauses=Pauses(redis),
                   subscriptions=SubscriptionStore(redis, cipher), holders=HolderStore(redis),
                   inbox=OutreachInbox(redis, jobs))


@dataclass(frozen=True)
class Outreach:
    """The only objects that speak to Outreach: a rep's tokens, the REST client, each team's webhook set."""

    tokens: TokenManager
    client: OutreachClient
    webhooks: TeamSubscriptions  # keeps each team's one set of subscriptions in Outreach

    @classmethod
    def open(cls, redis: Redis, http: aiohttp.ClientSession, settings: Settings, stores: Stores,
             telemetry: Telemetry) -> Outreach:
        tokens = TokenManager(redis, stores.connections, http, settings,
                              on_needs_reconnect=hand_over_on_reconnect(stores.holders, stores.inbox))
        client = OutreachClient(http, tokens, settings.outreach_api_url, telemetry=telemetry)
        webhooks = TeamSubscriptions(redis, client, stores.subscriptions, stores.holders, stores.connections,
                                     stores.users, settings.webhook_target_url, telemetry)
        return cls(tokens=tokens, client=client, webhooks=webhooks)


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: Redis  # the process's one pool (the worker's arq uses it too)
    http: aiohttp.ClientSession  # the process's one HTTP session (Outreach, OAuth, Nooks notifications)
    nooks_events: Webhook  # verifies events from Nooks (NOOKS_EVENTS_SECRET)
    stores: Stores
    outreach: Outreach
    ops: Ops

    @classmethod
    def open(cls, settings: Settings, redis: Redis | None = None) -> Services:
        redis = redis if redis is not None else connect(settings)
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.outreach_connections, ttl_dns_cache=300),
            # One session serves every rep: a cookie Outreach sets for one must never ride along for another
            # (and not parsing cookies saves CPU on every request).
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        ops = Ops.open(redis)
        stores = Stores.open(redis, settings, ops.history)
        return cls(settings=settings, redis=redis, http=http,
                   nooks_events=Webhook(settings.nooks_events_secret.get_secret_value()), stores=stores,
                   outreach=Outreach.open(redis, http, settings, stores, ops.telemetry), ops=ops)

    async def close(self) -> None:
        await self.ops.flusher.stop()
        await self.http.close()
        await self.redis.aclose()
