"""An event's story is found by event id, call id or rep email from indexes, and told in the order it happened."""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.ops import EventIds
from store import keys
from store.history import REP_INDEX_SIZE, EventHistory

IDS = EventIds(team_id="team_acme", call_id="call_1", rep_email="Ana@Acme.com")


async def flush(history: EventHistory, redis: Redis) -> None:
    while history.pending():
        async with redis.pipeline(transaction=False) as pipe:
            await history.drain_into(pipe, 200)
            await pipe.execute()


async def test_search_by_each_id_and_the_state_the_story_leaves(redis: Redis) -> None:
    history = EventHistory(redis)
    history.record("evt_1", "received", ids=IDS)
    history.record("evt_1", "attempt_failed", ids=IDS, detail="Outreach answered 503", attempt=1)
    history.record("evt_1", "logged", ids=IDS, attempt=2, outreach_call_id=77)
    history.record("evt_1", "task_completed", ids=IDS)
    await flush(history, redis)
    for query in ("evt_1", "call_1", "ana@acme.com", " ANA@acme.com "):
        [story] = await history.search(query)
        assert (story.event_id, story.state, story.outreach_call_id) == ("evt_1", "logged", 77)
        assert story.task_completed
        assert story.rep_email == "ana@acme.com"
        assert [s.step for s in story.steps] == ["received", "attempt_failed", "logged", "task_completed"]
    assert await history.search("") == [] and await history.search("x" * 300) == []
    assert await history.search("call_unknown") == []


async def test_steps_are_ordered_by_time_whichever_process_wrote_first(redis: Redis) -> None:
    web, worker = EventHistory(redis), EventHistory(redis)
    web.record("evt_2", "received", ids=IDS)
    worker.record("evt_2", "dead_lettered", ids=IDS, detail="prospect not found in Outreach")
    web.record("evt_2", "retried", by="ops")
    await flush(web, redis)  # the web process writes its two steps before the worker's one
    await flush(worker, redis)
    [story] = await history_of(redis, "evt_2")
    assert [s.step for s in story.steps] == ["received", "dead_lettered", "retried"] and story.state == "queued"


async def history_of(redis: Redis, event_id: str) -> list:  # type: ignore[type-arg]
    return await EventHistory(redis).stories([event_id])


async def test_a_reps_index_keeps_their_latest_events_and_everything_expires(redis: Redis) -> None:
    history = EventHistory(redis)
    for index in range(REP_INDEX_SIZE + 5):
        history.record(f"evt_{index}", "received", ids=IDS.model_copy(update={"call_id": f"call_{index}"}))
    await flush(history, redis)
    assert await redis.zcard(keys.rep_index("ana@acme.com")) == REP_INDEX_SIZE
    for key in (keys.rep_index("ana@acme.com"), keys.call_index("call_3"), keys.story("evt_3"),
                keys.story_header("evt_3")):
        assert 0 < await redis.ttl(key) <= 7 * 24 * 3600
    latest = await history.search("ana@acme.com", limit=3)
    assert [s.event_id for s in latest] == [f"evt_{REP_INDEX_SIZE + 4 - i}" for i in range(3)]
