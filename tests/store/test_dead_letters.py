"""Dead letters and flags come a page at a time from their time index; filters take what bulk actions act on."""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.ops import DeadLetter, DeadLetterFilter, Flag
from store import keys
from store.dead_letters import DeadLetters
from store.job_queue import JobWriter
from store.queue import EventQueue


def letter(index: int, *, reason: str = "prospect not found in Outreach", rep: str = "ana@acme.com") -> DeadLetter:
    return DeadLetter(event_id=f"evt_{index}", call_id=f"call_{index}", rep_email=rep, team_id="team_acme",
                      reason=reason, attempts=1, dead_at=1_700_000_000 + index)


async def test_pages_are_newest_first_and_filters_match_every_given_field(redis: Redis) -> None:
    letters = DeadLetters(redis, EventQueue(redis, JobWriter(redis)))
    for index in range(5):
        rep = "ben@acme.com" if index == 3 else "ana@acme.com"
        await letters.add(letter(index, reason="a" if index % 2 else "b", rep=rep))
    assert [d.event_id for d in await letters.page(0, 2)] == ["evt_4", "evt_3"]
    assert [d.event_id for d in await letters.page(4, 2)] == ["evt_0"]
    assert await letters.count() == 5
    matching = [d.event_id async for d in letters.matching(DeadLetterFilter(reason="a", rep_email="ANA@acme.com"))]
    assert matching == ["evt_1"]
    assert DeadLetterFilter(reason="a", team_id="team_acme").described() == "reason=a team_id=team_acme"
    assert DeadLetterFilter().described() == "all"


async def test_retry_and_discard_take_the_letter_out_of_its_index(redis: Redis) -> None:
    letters = DeadLetters(redis, EventQueue(redis, JobWriter(redis)))
    for index in range(2):
        await redis.set(keys.event(f"evt_{index}"), b"{}")
        await letters.add(letter(index))
    assert await letters.retry("evt_0") == "queued" and await letters.retry("evt_0") == "not_found"
    assert await letters.discard("evt_1") and not await redis.exists(keys.event("evt_1"))
    assert await letters.page() == [] and await redis.zcard(keys.DEAD_LETTER_INDEX) == 0
    assert await redis.keys(keys.dead_letter_field_index("*", "*")) == []  # out of every filter's index too


async def test_a_filtered_page_reads_its_fields_indexes_not_the_whole_list(redis: Redis) -> None:
    letters = DeadLetters(redis, EventQueue(redis, JobWriter(redis)))
    for index in range(120):
        team = "team_b" if index % 3 == 0 else "team_acme"
        await letters.add(letter(index, reason="a" if index % 2 else "b").model_copy(update={"team_id": team}))
    page, total = await letters.filtered_page(DeadLetterFilter(reason="a"), 0, 50)
    assert total == 60 and len(page) == 50 and page[0].event_id == "evt_119"
    page, total = await letters.filtered_page(DeadLetterFilter(reason="a"), 50, 50)
    assert total == 60 and [d.event_id for d in page][-1] == "evt_1"
    # Two fields: their intersection (odd indexes not divisible by 3), newest first; no key is left behind.
    page, total = await letters.filtered_page(DeadLetterFilter(reason="a", team_id="team_acme"), 0, 50)
    expected = [f"evt_{i}" for i in range(119, -1, -1) if i % 2 and i % 3][:50]
    assert total == 40 and [d.event_id for d in page] == expected
    assert not await redis.keys(keys.dead_letter_field_index("and", "*"))
    page, total = await letters.filtered_page(DeadLetterFilter(team_id="team_nobody"), 0, 50)
    assert page == [] and total == 0
    bulk = [d.event_id async for d in letters.matching(DeadLetterFilter(reason="a", team_id="team_b"))]
    assert bulk == [f"evt_{i}" for i in range(119, -1, -1) if i % 2 and i % 3 == 0]


async def test_a_retry_whose_event_is_gone_keeps_the_dead_letter(redis: Redis) -> None:
    """Nothing can be queued without the event's body: the dead letter stays for the operator to discard (it was
    deleted, and the retry answered 404 as if it had never existed)."""
    letters = DeadLetters(redis, EventQueue(redis, JobWriter(redis)))
    await letters.add(letter(1))
    assert await letters.retry("evt_1") == "event_gone"
    assert [d.event_id for d in await letters.page()] == ["evt_1"] and await letters.count() == 1
    assert await redis.zcard(keys.QUEUE) == 0


async def test_letters_stored_before_the_index_existed_are_indexed_once(redis: Redis) -> None:
    letters = DeadLetters(redis, EventQueue(redis, JobWriter(redis)))
    old = letter(7).model_copy(update={"event_id": "evt_old"})
    await redis.hset(keys.DEAD_LETTERS, "evt_old", old.model_dump_json())
    flag = Flag(event_id="evt_f", call_id="c", team_id="t", rep_email="r@x.io", outreach_call_id=1, flags=["x"], at=5)
    await redis.hset(keys.FLAGGED, "evt_f", flag.model_dump_json())
    assert await letters.ensure_indexed() == 2 + 3  # time indexes; the letter's reason, team and rep indexes
    assert await letters.ensure_indexed() == 0
    assert [d.event_id for d in await letters.page()] == ["evt_old"]
    found, total = await letters.filtered_page(DeadLetterFilter(rep_email="ana@acme.com"))
    assert [d.event_id for d in found] == ["evt_old"] and total == 1
    assert [f.event_id for f in await letters.flags()] == ["evt_f"]
