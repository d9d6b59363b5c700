"""Outreach webhook subscriptions the service created: ids, owner (team, rep), resource, and the secret,
which is kept encrypted (TokenCipher, like OAuth tokens) and decrypted only to verify a delivery.

Outreach webhook ids are unique per Outreach org only, so one id may name subscriptions of several teams:
`no:whsub:{id}` holds every candidate and ingress tells them apart by whose secret verifies the signature.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from store import keys
from store.crypto import FieldSwap, TokenCipher


@dataclass(frozen=True)
class Subscription:
    webhook_id: str
    team_id: str
    rep_email: str
    resource: str
    secret: str  # plaintext in memory only

    def __repr__(self) -> str:  # never print the secret
        return (f"Subscription(webhook_id={self.webhook_id!r}, team_id={self.team_id!r}, "
                f"rep_email={self.rep_email!r}, resource={self.resource!r})")


class SubscriptionStore:
    def __init__(self, redis: Redis, cipher: TokenCipher) -> None:
        self._redis = redis
        self._cipher = cipher

    async def save(self, sub: Subscription) -> None:
        entry = orjson.dumps({"resource": sub.resource,
                              "secret": self._cipher.encrypt(sub.secret.encode()).decode()}).decode()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.webhook_subscription(sub.webhook_id), keys.rep_member(sub.team_id, sub.rep_email),
                      entry)
            pipe.hset(keys.rep_subscriptions(sub.team_id, sub.rep_email), sub.resource, sub.webhook_id)
            pipe.sadd(keys.team_subscribers(sub.team_id), sub.rep_email)
            await pipe.execute()

    async def candidates(self, webhook_id: str) -> list[Subscription]:
        """Every subscription stored under this Outreach webhook id (usually one)."""
        raw = await self._redis.hgetall(keys.webhook_subscription(webhook_id))
        subs = []
        for member, entry in raw.items():
            sub = self._open(webhook_id, member.decode(), entry)
            if sub is not None:
                subs.append(sub)
        return subs

    async def owners(self, webhook_id: str) -> list[tuple[str, str]]:
        members = await self._redis.hkeys(keys.webhook_subscription(webhook_id))
        return [keys.split_member(m.decode()) for m in members]

    async def for_rep(self, team_id: str, rep_email: str) -> dict[str, Subscription]:
        """resource → subscription, for one rep."""
        ids = await self._redis.hgetall(keys.rep_subscriptions(team_id, rep_email))
        member = keys.rep_member(team_id, rep_email)
        subs = {}
        for resource, webhook_id in ids.items():
            entry = await self._redis.hget(keys.webhook_subscription(webhook_id.decode()), member)
            sub = self._open(webhook_id.decode(), member, entry) if entry is not None else None
            if sub is not None:
                subs[resource.decode()] = sub
        return subs

    async def webhook_ids(self, team_id: str, rep_email: str) -> dict[str, str]:
        """resource → webhook id, without opening secrets."""
        ids = await self._redis.hgetall(keys.rep_subscriptions(team_id, rep_email))
        return {k.decode(): v.decode() for k, v in ids.items()}

    async def remove(self, team_id: str, rep_email: str, resource: str, webhook_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.webhook_subscription(webhook_id), keys.rep_member(team_id, rep_email))
            pipe.hdel(keys.rep_subscriptions(team_id, rep_email), resource)
            pipe.exists(keys.rep_subscriptions(team_id, rep_email))
            *_, left = await pipe.execute()
        if not left:  # changes to a team's sets are made under its lock: no save races this
            await self._redis.srem(keys.team_subscribers(team_id), rep_email)

    async def subscribers(self, team_id: str) -> list[str]:
        """The team's reps with subscriptions stored (normally the holder alone)."""
        return sorted(m.decode() for m in await self._redis.smembers(keys.team_subscribers(team_id)))

    async def ensure_indexed(self) -> int:
        """Index the reps of subscriptions stored before `team_subscribers` existed (an upgrade), once per
        deployment; answers how many reps were indexed. Walks the per-rep keys with SCAN, once, at start."""
        if await self._redis.exists(keys.SUBSCRIBERS_INDEXED):
            return 0
        indexed = 0
        async for key in self._redis.scan_iter(match=keys.rep_subscriptions("*", "*"), count=500):
            team_id, _, rep_email = key.decode().removeprefix(keys.rep_subscriptions("", "")[:-1]).partition(":")
            indexed += await self._redis.sadd(keys.team_subscribers(team_id), rep_email)
        await self._redis.set(keys.SUBSCRIBERS_INDEXED, "1")
        return indexed

    async def remove_rep(self, team_id: str, rep_email: str) -> dict[str, str]:
        """Forget every subscription of a rep; returns resource → webhook id of what was there."""
        ids = await self.webhook_ids(team_id, rep_email)
        async with self._redis.pipeline(transaction=True) as pipe:
            for webhook_id in ids.values():
                pipe.hdel(keys.webhook_subscription(webhook_id), keys.rep_member(team_id, rep_email))
            pipe.delete(keys.rep_subscriptions(team_id, rep_email))
            pipe.srem(keys.team_subscribers(team_id), rep_email)
            await pipe.execute()
        return ids

    async def rotate_encryption(self) -> int:
        """Re-encrypt every stored webhook secret with the first key (compare-and-set per entry, so a
        subscription saved meanwhile is never overwritten); returns how many were re-encrypted."""
        swap, count = FieldSwap(self._redis), 0
        async for key in self._redis.scan_iter(match=keys.webhook_subscription("*"), count=500):
            for member, entry in (await self._redis.hgetall(key)).items():
                rotated = self._rotated(entry)
                if rotated is not None and await swap(key.decode(), member.decode(), entry, rotated):
                    count += 1
        return count

    async def not_under_first_key(self) -> int:
        """How many stored webhook secrets are not sealed with the first key (an unreadable entry counts)."""
        count = 0
        async for key in self._redis.scan_iter(match=keys.webhook_subscription("*"), count=500):
            for entry in (await self._redis.hgetall(key)).values():
                try:
                    sealed = str(orjson.loads(entry)["secret"]).encode()
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    count += 1
                    continue
                count += not self._cipher.under_first_key(sealed)
        return count

    def _rotated(self, entry: bytes) -> bytes | None:
        try:
            parsed = orjson.loads(entry)
            secret = self._cipher.rotate(str(parsed["secret"]).encode())
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        return orjson.dumps({**parsed, "secret": secret.decode()}) if secret is not None else None

    def _open(self, webhook_id: str, member: str, entry: bytes) -> Subscription | None:
        try:
            parsed = orjson.loads(entry)
            secret = self._cipher.decrypt(str(parsed["secret"]).encode())
            resource = str(parsed["resource"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        if secret is None:  # a retired encryption key: the subscription is unusable and will be replaced
            return None
        team_id, rep_email = keys.split_member(member)
        return Subscription(webhook_id=webhook_id, team_id=team_id, rep_email=rep_email, resource=resource,
                            secret=secret.decode())
