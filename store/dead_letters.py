"""Events that cannot be logged without an operator, and events logged with a caveat (flags).

Entries hold ids and reasons only: never a value read from Outreach. A sorted set beside each hash orders them by
time, so /ops shows a page of 50 without reading them all; one more per reason, team and rep does the same for a
filtered view.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from schemas.ops import DeadLetter, DeadLetterFilter, Flag
from store import keys
from store.queue import EventQueue

BATCH = 500  # dead letters read per round trip by bulk actions
QUEUED, NOT_FOUND, EVENT_GONE = "queued", "not_found", "event_gone"  # what a retry did
INTERSECTION_TTL_MS = 60_000  # the longest a filter's intersection of indexes may outlive its reader


def _field_indexes(letter: DeadLetter) -> list[str]:
    """The filtered views a dead letter appears in (DeadLetterFilter's fields; emails compared lowercased)."""
    found = [keys.dead_letter_field_index("reason", letter.reason)]
    if letter.team_id:
        found.append(keys.dead_letter_field_index("team_id", letter.team_id))
    if letter.rep_email:
        found.append(keys.dead_letter_field_index("rep_email", letter.rep_email.lower()))
    return found


def _filter_indexes(which: DeadLetterFilter) -> list[str]:
    given = [("reason", which.reason), ("team_id", which.team_id),
             ("rep_email", which.rep_email.lower() if which.rep_email else None)]
    return [keys.dead_letter_field_index(name, value) for name, value in given if value]


class DeadLetters:
    def __init__(self, redis: Redis, queue: EventQueue) -> None:
        self._redis = redis
        self._queue = queue

    async def add(self, letter: DeadLetter) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.DEAD_LETTERS, letter.event_id, letter.model_dump_json())
            pipe.zadd(keys.DEAD_LETTER_INDEX, {letter.event_id: letter.dead_at})
            for index in _field_indexes(letter):
                pipe.zadd(index, {letter.event_id: letter.dead_at})
            await pipe.execute()

    async def ensure_indexed(self) -> int:
        """Index dead letters and flags written before the indexes existed (an upgrade); answers how many.
        Walks the two hashes with HSCAN (a cursor over one key, not the keyspace), once, at start."""
        added = 0
        for hash_key, index_key, model in ((keys.DEAD_LETTERS, keys.DEAD_LETTER_INDEX, DeadLetter),
                                           (keys.FLAGGED, keys.FLAGGED_INDEX, Flag)):
            if await self._redis.hlen(hash_key) == await self._redis.zcard(index_key):
                continue
            async for event_id, raw in self._redis.hscan_iter(hash_key):
                entry = model.model_validate_json(raw)
                at = entry.dead_at if isinstance(entry, DeadLetter) else entry.at
                added += await self._redis.zadd(index_key, {event_id: at}, nx=True)
        if not await self._redis.exists(keys.DEAD_LETTER_FIELDS_INDEXED):
            async for event_id, raw in self._redis.hscan_iter(keys.DEAD_LETTERS):
                letter = DeadLetter.model_validate_json(raw)
                for index in _field_indexes(letter):
                    added += await self._redis.zadd(index, {event_id: letter.dead_at}, nx=True)
            await self._redis.set(keys.DEAD_LETTER_FIELDS_INDEXED, "1")
        return added

    async def count(self) -> int:
        return int(await self._redis.hlen(keys.DEAD_LETTERS))

    async def page(self, offset: int = 0, limit: int = 50) -> list[DeadLetter]:
        """Newest first."""
        ids = await self._redis.zrevrange(keys.DEAD_LETTER_INDEX, offset, offset + limit - 1)
        return await self._read(ids)

    async def get(self, event_id: str) -> DeadLetter | None:
        found = await self._read([event_id.encode()])
        return found[0] if found else None

    async def filtered_page(self, which: DeadLetterFilter, offset: int = 0, limit: int = 50
                            ) -> tuple[list[DeadLetter], int]:
        """A page of the dead letters the filter takes (newest first) and how many it takes, from the index of
        its one field, or the intersection of its fields' indexes: never the whole list."""
        async with self._index_of(which) as index, self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(index, offset, offset + limit - 1)
            pipe.zcard(index)
            ids, total = await pipe.execute()
        return [letter for letter in await self._read(ids) if which.matches(letter)], int(total)

    async def matching(self, which: DeadLetterFilter) -> AsyncIterator[DeadLetter]:
        """Every dead letter the filter takes, newest first, read BATCH at a time."""
        async with self._index_of(which) as index:
            offset = 0
            while ids := await self._redis.zrevrange(index, offset, offset + BATCH - 1):
                offset += len(ids)
                for letter in await self._read(ids):
                    if which.matches(letter):
                        yield letter

    @asynccontextmanager
    async def _index_of(self, which: DeadLetterFilter) -> AsyncIterator[str]:
        """The index to read for a filter: the whole list's, its one field's, or (two or more fields) their
        intersection, made by Redis from the smallest index up, in a key of its own dropped after use."""
        indexes = _filter_indexes(which)
        if len(indexes) < 2:
            yield indexes[0] if indexes else keys.DEAD_LETTER_INDEX
            return
        target = keys.dead_letter_field_index("and", secrets.token_hex(8))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zinterstore(target, indexes, aggregate="MAX")
            pipe.pexpire(target, INTERSECTION_TTL_MS)  # gone even if this process dies meanwhile
            await pipe.execute()
        try:
            yield target
        finally:
            await self._redis.delete(target)

    async def _read(self, ids: list[bytes]) -> list[DeadLetter]:
        if not ids:
            return []
        raw = await self._redis.hmget(keys.DEAD_LETTERS, ids)
        return [DeadLetter.model_validate_json(value) for value in raw if value is not None]

    async def retry(self, event_id: str) -> str:
        """Queue a dead letter again: QUEUED, NOT_FOUND (no such dead letter) or EVENT_GONE (its stored event
        is gone, so nothing could be queued: the dead letter stays, for the operator to discard)."""
        letter = await self._redis.hget(keys.DEAD_LETTERS, event_id)
        if letter is None or not await self._take(event_id):
            return NOT_FOUND
        if await self._queue.requeue(event_id):
            return QUEUED
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(keys.DEAD_LETTERS, event_id, letter)
            pipe.zadd(keys.DEAD_LETTER_INDEX, {event_id: DeadLetter.model_validate_json(letter).dead_at}, nx=True)
            await pipe.execute()
        return EVENT_GONE

    async def expire(self, before: float) -> tuple[int, int]:
        """Drop dead letters (with their stored event bodies) and flags older than `before` (epoch seconds), found
        through the time indexes a batch at a time; returns (dead letters, flags) dropped."""
        dead = flags = 0
        while ids := await self._redis.zrangebyscore(keys.DEAD_LETTER_INDEX, "-inf", before, start=0, num=BATCH):
            for event_id in ids:  # an operator's retry that took the letter first keeps the event
                dead += await self.discard(event_id.decode())
        while ids := await self._redis.zrangebyscore(keys.FLAGGED_INDEX, "-inf", before, start=0, num=BATCH):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.FLAGGED, *ids)
                pipe.zrem(keys.FLAGGED_INDEX, *ids)
                removed, _ = await pipe.execute()
            flags += int(removed)
        return dead, flags

    async def discard(self, event_id: str) -> bool:
        """Drop a dead letter and its stored event for good; False when there is no such dead letter."""
        if not await self._take(event_id):
            return False
        await self._queue.forget_event(event_id)
        return True

    async def _take(self, event_id: str) -> bool:
        letter = await self.get(event_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.DEAD_LETTERS, event_id)
            pipe.zrem(keys.DEAD_LETTER_INDEX, event_id)
            for index in _field_indexes(letter) if letter else []:
                pipe.zrem(index, event_id)
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def flag(self, flag: Flag) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.FLAGGED, flag.event_id, flag.model_dump_json())
            pipe.zadd(keys.FLAGGED_INDEX, {flag.event_id: flag.at})
            await pipe.execute()

    async def flag_count(self) -> int:
        return int(await self._redis.hlen(keys.FLAGGED))

    async def flags(self, offset: int = 0, limit: int = 50) -> list[Flag]:
        """Newest first."""
        ids = await self._redis.zrevrange(keys.FLAGGED_INDEX, offset, offset + limit - 1)
        if not ids:
            return []
        raw = await self._redis.hmget(keys.FLAGGED, ids)
        return [Flag.model_validate_json(value) for value in raw if value is not None]
