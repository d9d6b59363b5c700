"""Each event's story (received, attempts and their reasons, parked, released, dead-lettered, logged) and the
indexes that find it by event id, call id or rep email, kept as events flow so search never scans Redis.

Steps are buffered in memory and written with the process's other figures (runtime/flusher.py), one script call
per batch. A story's first step indexes it; if steps are lost in a crash, the next one starts the story again,
indexed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.ops import EventIds, EventStory, StoryEntry
from store import keys

STORY_TTL_SECONDS = 7 * 24 * 3600  # as long as the event's dedupe key
STORY_MAX_STEPS = 100  # an event retried for a day still shows its first and latest steps
REP_INDEX_SIZE = 500  # a rep's latest events
MAX_RESULTS = 50
MAX_QUERY_LENGTH = 254

# Append steps: each is pushed on its story; a story's first step also sets its expiry and, when the step names
# its ids, writes whom the story is about and indexes it by call id and by rep (the rep's latest REP_INDEX_SIZE).
# Later steps cost one push (a story lost in a crash starts again, indexed, at its next step). One call for a whole
# batch: per-step script calls cost more in the process than the writes. KEYS: per step, its story, header, call
# index and rep index. ARGV: ttl (s), most steps, rep index size, then per step: step JSON, header JSON ('' = no
# ids: its last three keys are unused), event id, time (epoch s).
_APPEND = """
local ttl, most, size = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 0, #KEYS / 4 - 1 do
  local k, a = i * 4, 3 + i * 4
  local length = redis.call('RPUSH', KEYS[k + 1], ARGV[a + 1])
  if length > most then redis.call('LTRIM', KEYS[k + 1], -most, -1) end
  if length == 1 then
    redis.call('EXPIRE', KEYS[k + 1], ttl)
    if ARGV[a + 2] ~= '' then
      redis.call('SET', KEYS[k + 2], ARGV[a + 2], 'EX', ttl)
      redis.call('SADD', KEYS[k + 3], ARGV[a + 3])
      redis.call('EXPIRE', KEYS[k + 3], ttl)
      redis.call('ZADD', KEYS[k + 4], ARGV[a + 4], ARGV[a + 3])
      redis.call('ZREMRANGEBYRANK', KEYS[k + 4], 0, -(size + 1))
      redis.call('EXPIRE', KEYS[k + 4], ttl)
    end
  end
end
return #KEYS / 4
"""

# The state an event is left in by its latest step (steps not listed leave it as it was).
_STATE_AFTER = {
    "received": "queued", "attempt_failed": "retrying", "rate_limited": "retrying", "parked": "parked",
    "released": "queued", "dead_lettered": "dead_lettered", "retried": "queued", "discarded": "discarded",
    "logged": "logged", "duplicate": "logged", "gone": "gone",
}


@dataclass(frozen=True)
class _Pending:
    event_id: str
    entry: bytes  # the step, as StoryEntry JSON
    at: float
    ids: EventIds | None


class EventHistory:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[_Pending] = []
        self._append = redis.register_script(_APPEND)

    def record(self, event_id: str, step: str, *, ids: EventIds | None = None, detail: str | None = None,
               attempt: int | None = None, outreach_call_id: int | None = None, by: str | None = None) -> None:
        """Add a step to the event's story (written at the next flush). Built with orjson, not pydantic: ingress
        and the worker call this for every event."""
        at = time.time()
        entry = {"at": at, "step": step, "detail": detail, "attempt": attempt, "outreach_call_id": outreach_call_id,
                 "by": by}
        raw = orjson.dumps({name: value for name, value in entry.items() if value is not None})
        self._pending.append(_Pending(event_id, raw, at, ids))

    def pending(self) -> bool:
        return bool(self._pending)

    def discard(self) -> None:
        """Forget the steps not written (Redis is unreachable): memory stays bounded."""
        self._pending.clear()

    async def drain_into(self, pipe: Pipeline, most: int) -> None:
        """Queue at most `most` steps on `pipe` as one script call (the rest wait for the next pipeline)."""
        taken, self._pending = self._pending[:most], self._pending[most:]
        if not taken:
            return
        script_keys: list[str] = []
        args: list[bytes | str | float | int] = [STORY_TTL_SECONDS, STORY_MAX_STEPS, REP_INDEX_SIZE]
        for item in taken:
            story = keys.story(item.event_id)
            if item.ids is None:
                script_keys += [story, story, story, story]
                args += [item.entry, b"", item.event_id, item.at]
                continue
            rep = item.ids.rep_email.lower()
            script_keys += [story, keys.story_header(item.event_id), keys.call_index(item.ids.call_id),
                            keys.rep_index(rep)]
            header = orjson.dumps({"team_id": item.ids.team_id, "call_id": item.ids.call_id, "rep_email": rep})
            args += [item.entry, header, item.event_id, item.at]
        await self._append(keys=script_keys, args=args, client=pipe)

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
            # Each process writes its own steps in batches: order them by when they happened, not by arrival.
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
