"""One set of webhook subscriptions per team, held by one connected rep's token (docs/outreach-webhooks.md).

Outreach delivers a change once per subscription whose authorizer may read the record, so per-rep sets turned
each change into one delivery per rep. `TeamSubscriptions.ensure` keeps exactly one set per team:
- a holder who is connected with `webhooks.all` keeps the set (made whole by `SetSync`);
- otherwise another such rep becomes the holder: its set is created first, the holder swapped (compare-and-set),
  and only then the old set deleted, so a change made meanwhile arrives at most twice (the change claim dedupes);
- sets held by anyone else (the previous holder, per-rep sets of older versions) are deleted in Outreach, with
  their own rep's token, else the holder's;
- when nobody in the team is left who could hold it, every subscription of the team is deleted.
A Redis lock per team serialises this across every web and worker process; the compare-and-set on the holder
covers a lock that expired while Outreach was slow.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from redis.asyncio import Redis

from outreach.client import OutreachClient
from outreach.errors import NotConnected, OutreachError, OutreachRejected, ReconnectRequired
from outreach.tokens import NeedsReconnectHook
from outreach.webhooks import SetSync, SyncReport, delete_webhook, has_scope
from schemas.connection import ConnectionStatus
from store import keys
from store.connections import ConnectionStore
from store.locks import Lock
from store.outreach_changes import OutreachInbox
from store.subscriptions import SubscriptionStore
from store.telemetry import Telemetry
from store.users import UserDirectory
from store.webhook_holders import HolderStore

log = logging.getLogger("outreach.team_webhooks")

TEAM_LOCK_MS = 60_000


class SubscriptionBusy(Exception):
    """Another process is changing this team's subscriptions right now."""


@dataclass
class TeamReport:
    team_id: str
    holder: str | None = None
    moved_from: str | None = None
    sync: SyncReport = field(default_factory=SyncReport)
    retired: dict[str, int] = field(default_factory=dict)  # rep → subscriptions deleted (or forgotten)
    problem: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"holder": self.holder, "moved_from": self.moved_from, "retired": self.retired,
                "problem": self.problem, **{name: len(items) for name, items in self.sync.as_dict().items()}}


class TeamSubscriptions:
    def __init__(self, redis: Redis, client: OutreachClient, store: SubscriptionStore, holders: HolderStore,
                 connections: ConnectionStore, users: UserDirectory, target_url: str, telemetry: Telemetry,
                 *, lock_ms: int = TEAM_LOCK_MS) -> None:
        self._redis = redis
        self._telemetry = telemetry
        self._client = client
        self._store = store
        self._connections = connections
        self._users = users
        self.holders = holders
        self.sets = SetSync(client, store, target_url)
        self._lock_ms = lock_ms

    async def ensure(self, team_id: str, *, prefer: str | None = None, leaving: str | None = None,
                     members: list[str] | None = None, wait: float = 0.0) -> TeamReport:
        """Converge the team to one set (see the module docstring). `prefer`: the rep to hold a new set when
        the team has no usable holder (the one who just connected). `leaving`: a rep disconnecting right now
        (tokens still stored): never the holder, its set goes. `members`: the team's reps with a stored connection,
        when the caller has them already. `wait`: seconds to wait for the team's lock."""
        lock = Lock(self._redis, keys.webhook_team_lock(team_id), self._lock_ms)
        if not await lock.acquire(wait=wait):
            raise SubscriptionBusy
        try:
            if members is None:
                members = await self._connections.team_members(team_id)
            return await self._ensure(team_id, [rep for rep in members if rep != leaving], prefer, leaving)
        finally:
            await lock.release()

    async def _ensure(self, team_id: str, members: list[str], prefer: str | None, leaving: str | None
                      ) -> TeamReport:
        holder = await self.holders.holder(team_id)
        report = TeamReport(team_id=team_id, holder=holder)
        sets = await self._sets_of(team_id, {*members, *(r for r in (holder, leaving) if r)})
        eligible = [rep for rep in members if await self.usable(team_id, rep)]
        authorizers = {entry.outreach_user_id for entry in await self._users.mappings(team_id)}
        while True:
            target = holder if holder in eligible else _choose(prefer, eligible, sets)
            if target is None:
                return await self._without_holder(report, members, sets)
            try:
                report.sync = await self.sets.sync(team_id, target, authorizers)  # the new set before the old goes
            except (ReconnectRequired, NotConnected):
                # Its tokens were refused just now (it is marked needs_reconnect): the next rep who can hold the
                # set takes it at once, rather than at the next repair run.
                log.info("webhook holder candidate refused team=%s rep=%s", team_id, target)
                eligible.remove(target)
                continue
            break
        if target != holder:
            if not await self.holders.swap(team_id, holder, target):
                await self._undo(team_id, target)
                raise SubscriptionBusy
            report.holder, report.moved_from = target, holder
            if holder is not None:
                self._telemetry.count("webhook_sets_moved")
            log.info("webhook holder team=%s from=%s to=%s", team_id, holder, target)
        for rep, ids in sets.items():
            if rep != target:
                report.retired[rep] = await self._retire(team_id, rep, ids, fallback=target)
        await self.holders.checked(team_id, None)
        return report

    async def _without_holder(self, report: TeamReport, members: list[str], sets: dict[str, dict[str, str]]
                              ) -> TeamReport:
        team_id, holder = report.team_id, report.holder
        if holder is not None and holder in members:
            # The holder needs reconnecting or lost webhooks.all and nobody can take over: its set may still
            # deliver, and reconciliation covers the rest. It moves as soon as someone can hold it.
            report.problem = "no_usable_holder"
            await self.holders.checked(team_id, report.problem)
            return report
        for rep, ids in sets.items():  # the team's last rep is gone (or leaving)
            report.retired[rep] = await self._retire(team_id, rep, ids, fallback=None)
        await self.holders.swap(team_id, holder, None)
        report.holder = None
        return report

    async def release(self, team_id: str, rep_email: str, *, wait: float) -> TeamReport:
        """A rep is disconnecting (its tokens still stored): move the set if it holds it, delete it with the team's
        last rep. A rep who holds nothing while a connected holder does costs no Outreach request."""
        holder = await self.holders.holder(team_id)
        if holder is not None and holder != rep_email and not await self._store.webhook_ids(team_id, rep_email) \
                and await self._connections.status(team_id, holder) is not ConnectionStatus.NOT_CONNECTED:
            return TeamReport(team_id=team_id, holder=holder)
        return await self.ensure(team_id, leaving=rep_email, wait=wait)

    async def abandon(self, team_id: str, rep_email: str, within: float) -> int:
        """When a disconnect cannot wait for the team's lock: forget the rep's set here at once (late deliveries
        get 401), stop it being the holder (the next sync picks another), and delete it in Outreach, best
        effort, within `within` seconds. Returns how many were deleted."""
        ids = await self._store.remove_rep(team_id, rep_email)
        await self.holders.swap(team_id, rep_email, None)
        if not ids:
            return 0
        try:
            async with asyncio.timeout(within):
                results = await asyncio.gather(*(self._delete(team_id, webhook_id, [rep_email])
                                                 for webhook_id in ids.values()))
        except TimeoutError:
            log.warning("webhook deletion timed out team=%s rep=%s", team_id, rep_email)
            return 0
        return sum(results)

    async def usable(self, team_id: str, rep_email: str) -> bool:
        """Connected, with `webhooks.all`: the rep's token can hold the team's set."""
        return await self._connections.status(team_id, rep_email) is ConnectionStatus.CONNECTED and \
            has_scope(await self._connections.scopes(team_id, rep_email))

    async def _sets_of(self, team_id: str, reps: set[str]) -> dict[str, dict[str, str]]:
        found = {rep: await self._store.webhook_ids(team_id, rep) for rep in sorted(reps)}
        return {rep: ids for rep, ids in found.items() if ids}

    async def _undo(self, team_id: str, target: str) -> None:
        """Another process swapped the holder while this one worked (its lock had expired): the set just made
        for `target` is surplus, unless `target` is the holder after all."""
        if await self.holders.holder(team_id) != target:
            await self._retire(team_id, target, await self._store.webhook_ids(team_id, target), fallback=None)

    async def _retire(self, team_id: str, rep_email: str, ids: dict[str, str], *, fallback: str | None) -> int:
        """Delete a set in Outreach (with its rep's token, else the fallback's), then forget it here. A set that
        cannot be deleted now is forgotten anyway: its deliveries get 401, and the holder's next sync deletes
        it as an orphan."""
        deleted = 0
        self._telemetry.count("webhook_sets_retired")
        for webhook_id in ids.values():
            deleted += await self._delete(team_id, webhook_id, [rep for rep in (rep_email, fallback) if rep])
        for resource, webhook_id in ids.items():
            await self._store.remove(team_id, rep_email, resource, webhook_id)
        log.info("webhook set retired team=%s rep=%s deleted=%d of %d", team_id, rep_email, deleted, len(ids))
        return deleted

    async def _delete(self, team_id: str, webhook_id: str, reps: list[str]) -> int:
        for rep_email in reps:
            try:
                return int(await delete_webhook(self._client.for_rep(team_id, rep_email), webhook_id))
            except (ReconnectRequired, NotConnected, OutreachRejected):
                continue  # this rep's token cannot: try the next
            except OutreachError as failed:
                log.warning("webhook deletion failed team=%s webhook=%s: %s", team_id, webhook_id, failed)
                return 0
        return 0


def hand_over_on_reconnect(holders: HolderStore, inbox: OutreachInbox) -> NeedsReconnectHook:
    """What a rep's refused tokens mean for webhooks: if the rep holds its team's set, queue the set's move now
    rather than wait for the next repair run."""

    async def hand_over(team_id: str, rep_email: str) -> None:
        if await holders.holder(team_id) == rep_email:
            await inbox.queue_subscription_sync(team_id, "")

    return hand_over


def _choose(prefer: str | None, eligible: list[str], sets: dict[str, dict[str, str]]) -> str | None:
    """The new holder: whoever already holds the most subscriptions (an older per-rep set is reused, not made
    again), then the rep who just connected, then the first by email."""
    if not eligible:
        return None
    return max(sorted(eligible), key=lambda rep: (len(sets.get(rep, {})), rep == prefer))
