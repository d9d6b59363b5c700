"""The per-rep rate budget: requests wait for the window instead of earning a 429."""

from __future__ import annotations

import asyncio
import time

import pytest

from outreach.budget import UNKNOWN_BUDGET_IN_FLIGHT, UNKNOWN_BUDGET_POLL_SECONDS, RateBudget
from outreach.errors import RateLimited


async def test_an_unknown_budget_lets_a_few_requests_find_it_out_then_waits() -> None:
    budget = RateBudget()
    for _ in range(UNKNOWN_BUDGET_IN_FLIGHT):
        await asyncio.wait_for(budget.acquire("rep"), 0.5)  # none of these waits
    assert budget.snapshot("rep") == (None, 0.0)
    waiting = asyncio.create_task(budget.acquire("rep"))
    await asyncio.sleep(UNKNOWN_BUDGET_POLL_SECONDS * 3)
    assert not waiting.done()  # one more would be a burst before Outreach said anything
    budget.release("rep", {"X-RateLimit-Remaining": "5000", "X-RateLimit-Reset": str(int(time.time()) + 600)})
    await asyncio.wait_for(waiting, 1)  # the first answer's headers let it through
    assert budget.snapshot("rep")[0] == 5000


async def test_spent_budget_with_a_far_reset_defers_the_job() -> None:
    budget = RateBudget()
    await budget.acquire("rep")
    budget.release("rep", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 600)})
    with pytest.raises(RateLimited) as info:
        await budget.acquire("rep")
    assert 590 < info.value.retry_after <= 600
    await budget.acquire("other-rep")  # budgets are per rep


async def test_spent_budget_with_a_near_reset_waits_inline() -> None:
    budget = RateBudget()
    await budget.acquire("rep")
    budget.release("rep", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(time.time() + 0.3)})
    started = time.monotonic()
    await budget.acquire("rep")
    assert time.monotonic() - started >= 0.2


async def test_in_flight_requests_count_against_the_remaining_budget() -> None:
    budget = RateBudget()
    await budget.acquire("rep")
    budget.release("rep", {"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": str(int(time.time()) + 600)})
    await budget.acquire("rep")
    await budget.acquire("rep")
    with pytest.raises(RateLimited):
        await budget.acquire("rep")  # two in flight already use the two remaining


async def test_a_429_holds_the_rep_until_retry_after_and_bad_headers_are_ignored() -> None:
    budget = RateBudget()
    budget.exhausted("rep", 30)
    with pytest.raises(RateLimited):
        await budget.acquire("rep")
    fresh = RateBudget()
    await fresh.acquire("rep")
    fresh.release("rep", {"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "soon"})
    assert fresh.snapshot("rep") == (None, 0.0)  # unreadable headers change nothing
    await asyncio.wait_for(fresh.acquire("rep"), 0.5)


async def test_a_429_holds_the_rep_for_retry_after_not_until_the_hourly_reset() -> None:
    budget = RateBudget()
    await budget.acquire("rep")
    budget.release("rep", {"X-RateLimit-Limit": "10000", "X-RateLimit-Remaining": "9000",
                           "X-RateLimit-Reset": str(int(time.time()) + 3000)})
    budget.exhausted("rep", 0.3)
    started = time.monotonic()
    await budget.acquire("rep")  # waits out the 0.3 s inline, then the budget (9,000 left) lets it through
    assert 0.2 <= time.monotonic() - started < 2


async def test_a_429_with_the_hour_spent_still_waits_for_the_reset() -> None:
    budget = RateBudget()
    await budget.acquire("rep")
    budget.release("rep", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 600)})
    budget.exhausted("rep", 1)
    with pytest.raises(RateLimited) as info:
        await budget.acquire("rep")
    assert info.value.retry_after > 500


def test_only_windows_not_yet_reset_are_reported() -> None:
    budget = RateBudget()
    now = int(time.time())
    budget.release("current", {"X-RateLimit-Remaining": "9", "X-RateLimit-Reset": str(now + 600),
                               "X-RateLimit-Limit": "10000"})
    budget.release("reset-long-ago", {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": str(now - 3600)})
    assert budget.windows() == {"current": (9, now + 600, 10000)}
