"""Each event's story (received, attempts and their reasons, parked, released, dead-lettered, logged) and the
indexes that find it by event id, call id or rep email, kept as events flow so search never scans Redis.

Steps are buffered in memory and written with the process's other figures once a second (runtime/flusher.py).
Every step that names the event's ids indexes it again, so a step lost in a crash is found from the next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.ops import EventIds, EventStory, StoryEntry
from store import keys

STORY_TTL_SECONDS = 7 * 24 * 3600  # as long as the event's dedupe key
STORY_MAX_STEPS = 100  # an event retried for a day still shows its first and latest steps
REP_INDEX_SIZE = 500  # a rep's latest events
MAX_RESULTS = 50
MAX_QUERY_LENGTH = 254

# The state an event is left in by its latest step (steps not listed leave it as it was).
_STATE_AFTER = {
    "received": "queued", "attempt_failed": "retrying", "rate_limited": "retrying", "parked": "parked",
    "released": "queued", "dead_lettered": "dead_lettered", "retried": "queued", "discarded": "discarded",
    "logged": "logged", "duplicate": "logged", "gone": "gone",
}


@dataclass(frozen=True)
class _Pending:
    event_id: str
    entry: bytes
    at: float
    ids: EventIds | None


class EventHistory:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[_Pending] = []

    def record(self, event_id: str, step: str, *, ids: EventIds | None = None, detail: str | None = None,
               attempt: int | None = None, outreach_call_id: int | None = None, by: str | None = None) -> None:
        """Add a step to the event's story (written at the next flush)."""
        entry = StoryEntry(at=time.time(), step=step, detail=detail, attempt=attempt,
                           outreach_call_id=outreach_call_id, by=by)
        if ids is not None:
            ids = EventIds(team_id=ids.team_id, call_id=ids.call_id, rep_email=ids.rep_email.lower())
        self._pending.append(_Pending(event_id, entry.model_dump_json(exclude_none=True).encode(), entry.at, ids))

    def pending(self) -> bool:
        return bool(self._pending)

    def drain_into(self, pipe: Pipeline) -> None:
        pending, self._pending = self._pending, []
        stories: set[str] = set()
        reps: set[str] = set()
        for item in pending:
            story = keys.story(item.event_id)
            pipe.rpush(story, item.entry)
            stories.add(story)
            if item.ids is not None:
                header = item.ids.model_dump_json().encode()
                pipe.set(keys.story_header(item.event_id), header, ex=STORY_TTL_SECONDS)
                pipe.sadd(keys.call_index(item.ids.call_id), item.event_id)
                pipe.expire(keys.call_index(item.ids.call_id), STORY_TTL_SECONDS)
                pipe.zadd(keys.rep_index(item.ids.rep_email), {item.event_id: item.at}, nx=True)
                reps.add(item.ids.rep_email)
        for story in stories:
            pipe.ltrim(story, -STORY_MAX_STEPS, -1)
            pipe.expire(story, STORY_TTL_SECONDS)
        for rep in reps:
            pipe.zremrangebyrank(keys.rep_index(rep), 0, -(REP_INDEX_SIZE + 1))
            pipe.expire(keys.rep_index(rep), STORY_TTL_SECONDS)

    async def search(self, query: str, limit: int = MAX_RESULTS) -> list[EventStory]:
        """Events whose id, call id or rep email is `query`, newest first, each with its story."""
        query = query.strip()
        if not query or len(query) > MAX_QUERY_LENGTH:
            return []
        if "@" in query:
            found = [m.decode() for m in await self._redis.zrevrange(keys.rep_index(query.lower()), 0, limit - 1)]
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.exists(keys.story_header(query), keys.story(query))
                pipe.srandmember(keys.call_index(query), limit)
                exists, by_call = await pipe.execute()
            found = ([query] if exists else []) + sorted(m.decode() for m in by_call if m.decode() != query)
        return await self.stories(found[:limit])

    async def stories(self, event_ids: list[str]) -> list[EventStory]:
        if not event_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.get(keys.story_header(event_id))
                pipe.lrange(keys.story(event_id), 0, -1)
            replies = await pipe.execute()
        stories = []
        for index, event_id in enumerate(event_ids):
            header, steps = replies[2 * index], replies[2 * index + 1]
            if header is None and not steps:
                continue
            # Each process writes its steps once a second: order them by when they happened, not by arrival.
            entries = sorted((StoryEntry.model_validate_json(raw) for raw in steps), key=lambda step: step.at)
            stories.append(_story(event_id, EventIds.model_validate_json(header) if header else None, entries))
        return sorted(stories, key=lambda s: s.steps[0].at if s.steps else 0.0, reverse=True)


def _story(event_id: str, ids: EventIds | None, steps: list[StoryEntry]) -> EventStory:
    state, outreach_call_id, task_completed = "unknown", None, False
    for step in steps:
        state = _STATE_AFTER.get(step.step, state)
        outreach_call_id = step.outreach_call_id or outreach_call_id
        task_completed = task_completed or step.step == "task_completed"
    return EventStory(event_id=event_id, team_id=ids.team_id if ids else None, call_id=ids.call_id if ids else None,
                      rep_email=ids.rep_email if ids else None, state=state, outreach_call_id=outreach_call_id,
                      task_completed=task_completed, steps=steps)
