"""The dashboard end to end, in a real headless Chromium: an operator logs in, finds a dead letter by its call id,
retries it and watches the call land in Outreach; a bulk retry asks first; a wrong password and a forged
cross-site POST are refused. Screenshots for the docs are taken from the same pages (UPDATE_SCREENSHOTS=1 writes
them to docs/)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.browser import chromium, require_chromium
from tests.support.nooks import call_event
from tests.support.service import Service, eventually
from tools.embedded_redis import free_port

DOCS = Path(__file__).resolve().parents[3] / "docs"
pytestmark = pytest.mark.xdist_group("browser")  # one Chromium for the module, on one xdist worker


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    require_chromium()
    async with chromium() as running:
        yield running


@pytest.fixture
async def operator(browser: Any, svc: Service) -> AsyncIterator[Any]:
    context = await browser.new_context(http_credentials={"username": svc.ops[0], "password": svc.ops[1]},
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()


async def _dead_ids(svc: Service) -> list[str]:
    letters = (await svc.ops_api("GET", "/ops/api/dead-letters"))[1]["dead_letters"]
    return [letter["event_id"] for letter in letters]


async def test_operator_finds_a_dead_letter_by_call_id_retries_it_and_sees_the_audit(svc: Service,
                                                                                      operator: Any) -> None:
    page = operator
    await svc.connect()
    event = await svc.dead_letter("call_browser_1")
    response = await page.goto(f"{svc.base_url}/ops/")
    assert response.status == 200
    row = page.locator(f'tr[data-event="{event["id"]}"]')
    await row.wait_for()
    assert "422" in await row.inner_text()

    await page.fill('input[name="q"]', "call_browser_1")
    await page.click('header button[type="submit"]')
    story = page.locator(f'article.story[data-event="{event["id"]}"]')
    await eventually(lambda: _visible_with(story, "dead lettered"))  # indexed within a second

    await page.goto(f"{svc.base_url}/ops/")
    await page.locator(f'tr[data-event="{event["id"]}"] button', has_text="retry").click()
    await row.wait_for(state="detached")  # the page refreshes after the action: the row is gone
    calls = await eventually(lambda: svc.calls("call_browser_1"))
    assert await _dead_ids(svc) == []

    await page.reload()
    audit = page.locator("#audit")
    assert "retry" in await audit.inner_text() and f"dead letter {event['id']}" in await audit.inner_text()

    await page.goto(f"{svc.base_url}/ops/events/{event['id']}")
    await eventually(lambda: _reload_until(page, "task completed", "by ops"))
    text = await page.locator("article.story").inner_text()
    assert str(calls[0]["id"]) in text and "retried" in text and "by ops" in text


async def test_bulk_retry_asks_for_confirmation_first(svc: Service, operator: Any) -> None:
    page = operator
    await svc.connect()
    first, second = await svc.dead_letter("call_bulk_b1"), await svc.dead_letter("call_bulk_b2")
    await page.goto(f"{svc.base_url}/ops/")
    asked: list[str] = []

    async def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await page.click("#retry-matching")
    await eventually(lambda: _truthy(asked))
    assert asked == ["Retry 2 dead letters (all)?"]
    assert sorted(await _dead_ids(svc)) == sorted([first["id"], second["id"]])  # dismissed: nothing happened

    async def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await page.click("#retry-matching")
    await page.locator(f'tr[data-event="{first["id"]}"]').wait_for(state="detached")
    await page.get_by_text("2 dead letter(s) queued again.").wait_for()
    await eventually(lambda: svc.calls("call_bulk_b1"))
    await eventually(lambda: svc.calls("call_bulk_b2"))
    await page.reload()
    assert "retry all" in await page.locator("#audit").inner_text()


async def test_live_refresh_at_the_picked_interval_shows_new_dead_letters(svc: Service, operator: Any) -> None:
    page = operator
    await page.clock.install()  # the page's timers run on a clock the test moves (no 5 s wait)
    await svc.connect()
    await page.goto(f"{svc.base_url}/ops/")
    await page.select_option("#refresh-interval", "5")
    event = await svc.dead_letter("call_live")
    row = page.locator(f'tr[data-event="{event["id"]}"]')
    await page.clock.run_for(4_000)
    assert await row.count() == 0  # not before the picked interval
    await page.clock.run_for(1_000)
    await row.wait_for(timeout=5_000)  # no reload: refreshed in place
    await page.reload()
    assert await page.locator("#refresh-interval").input_value() == "5"  # the pick is remembered


async def test_live_refresh_pauses_while_the_tab_is_hidden(svc: Service, operator: Any) -> None:
    page = operator
    await page.add_init_script(COUNT_TIMERS)
    await svc.connect()
    await page.goto(f"{svc.base_url}/ops/")
    await page.select_option("#refresh-interval", "5")
    assert await page.evaluate("window.liveTimers.size") == 1
    await page.evaluate(HIDE)
    assert await page.evaluate("window.liveTimers.size") == 0  # hidden: no refresh is scheduled at all
    event = await svc.dead_letter("call_hidden")
    await page.evaluate(SHOW)  # shown again: refreshed at once, and the timer is back
    await page.locator(f'tr[data-event="{event["id"]}"]').wait_for(timeout=3_000)
    assert await page.evaluate("window.liveTimers.size") == 1


# Which intervals the page has running (set before its own script loads).
COUNT_TIMERS = """(() => {
  window.liveTimers = new Set();
  const set = window.setInterval.bind(window), clear = window.clearInterval.bind(window);
  window.setInterval = (fn, ms) => { const id = set(fn, ms); window.liveTimers.add(id); return id; };
  window.clearInterval = (id) => { window.liveTimers.delete(id); clear(id); };
})();"""
HIDE = """() => { Object.defineProperty(document, "hidden", {value: true, configurable: true});
                 document.dispatchEvent(new Event("visibilitychange")); }"""
SHOW = """() => { Object.defineProperty(document, "hidden", {value: false, configurable: true});
                 document.dispatchEvent(new Event("visibilitychange")); }"""


async def test_wrong_password_and_forged_cross_site_post_are_refused(browser: Any, svc: Service) -> None:
    await svc.connect()
    event = await svc.dead_letter("call_forged")
    intruder = await browser.new_context(http_credentials={"username": svc.ops[0], "password": "wrong"})
    response = await (await intruder.new_page()).goto(f"{svc.base_url}/ops/")
    assert response.status == 401
    await intruder.close()

    # An operator with valid credentials visits another site, whose page posts to /ops behind their back.
    evil_port = free_port()
    form = (f'<form id="f" method="post" enctype="text/plain" action="{svc.base_url}/ops/api/dead-letters/retry">'
            '<input name="x" value="y"></form><script>document.getElementById("f").submit()</script>')
    async def evil_page(_: web.Request) -> web.Response:
        return web.Response(text=form, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", evil_page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", evil_port).start()
    victim = await browser.new_context(http_credentials={"username": svc.ops[0], "password": svc.ops[1]})
    try:
        page = await victim.new_page()
        async with page.expect_response(lambda r: "/ops/api/dead-letters/retry" in r.url) as forged:
            await page.goto(f"http://127.0.0.1:{evil_port}/")
        assert (await forged.value).status == 403
    finally:
        await victim.close()
        await runner.cleanup()
    assert await _dead_ids(svc) == [event["id"]]
    assert (await svc.ops_api("GET", "/ops/api/audit"))[1]["audit"] == []


async def test_screenshots_of_the_overview_and_an_event_story(svc: Service, operator: Any, tmp_path: Path) -> None:
    """A morning's state: calls logged, one retried, one dead letter, a rep waiting to connect, a paused rep."""
    page = operator
    await svc.connect()
    for index in range(6):
        await svc.post_event(call_event(f"call_shot_{index}", task_id=None))
    await eventually(lambda: _count_at_least(svc, 6))
    # One attempt fails past its quick retries (outreach/quick_retry.py): the job is retried.
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=503, count=4)
    await svc.post_event(call_event("call_shot_retry", task_id=None))
    await eventually(lambda: svc.calls("call_shot_retry"), timeout=15)
    await svc.sandbox.fail_next("/api/v2/calls", method="POST", status=503)
    dead = await svc.dead_letter("call_shot_dead")  # fails once (503, tried again quickly), then is refused (422)
    await svc.post_event(call_event("call_shot_waiting", rep_email="ben@acme.com"))
    await svc.ops_api("POST", "/ops/api/reps/team_acme/ben@acme.com/pause")
    await eventually(lambda: _summary_ready(svc), timeout=15)
    target = DOCS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    await page.goto(f"{svc.base_url}/ops/")
    await page.screenshot(path=str(target / "ops-overview.png"), full_page=True)

    await svc.ops_api("POST", f"/ops/api/dead-letters/{dead['id']}/retry")
    await page.goto(f"{svc.base_url}/ops/search?q=call_shot_dead")
    await eventually(lambda: _reload_until(page, "task completed", "by ops"))
    await page.screenshot(path=str(target / "ops-event-story.png"), full_page=True)
    assert (target / "ops-overview.png").stat().st_size > 10_000


async def _summary_ready(svc: Service) -> bool:
    summary = (await svc.ops_api("GET", "/ops/api/summary"))[1]
    logged = sum(point["calls_logged"] for point in summary["per_minute"])
    return logged >= 7 and summary["parked"] >= 1 and any(w["alive"] for w in summary["workers"])


async def _count_at_least(svc: Service, count: int) -> bool:
    return len(await svc.calls()) >= count


async def _visible_with(locator: Any, text: str) -> bool:
    page = locator.page
    if await locator.count() and text in await locator.inner_text():
        return True
    await page.reload()
    return False


async def _reload_until(page: Any, *texts: str) -> bool:
    content = await page.content()
    if all(text in content for text in texts):
        return True
    await page.reload()
    return False


async def _truthy(value: list[str]) -> bool:
    return bool(value)


async def test_an_events_story_shows_each_after_call_action_and_the_overview_counts_flagged_ones(
        svc: Service, operator: Any) -> None:
    page = operator
    await svc.connect()
    event = call_event("call_browser_outcome", prospect_id=3457, task_id=1123, after_call={
        "follow_up": {"after": "P1D", "note": "Send pricing"}, "opt_out_of_calls": True,
        "add_to_sequence": {"sequence_id": 41}})  # Eli is active in 41 already: the enrolment is refused
    await svc.post_event(event)

    async def told() -> bool:  # story steps are written a moment after the call is settled
        status, story = await svc.ops_api("GET", f"/ops/api/events/{event['id']}")
        return status == 200 and "logged" in [step["step"] for step in story["steps"]]
    await eventually(told, timeout=20)
    await page.goto(f"{svc.base_url}/ops/events/{event['id']}")
    steps = await page.locator("ol.steps li b").all_inner_texts()
    for step in ("call written", "task completed", "follow up created", "opted out of calls", "enrol refused"):
        assert step in steps, steps
    detail = await page.locator("li.step-enrol_refused .detail").inner_text()
    assert "422" in detail and "already" not in detail  # Outreach's status and error id, never its detail
    await page.screenshot(path=os.environ.get("AFTER_CALL_SHOT", "/tmp/after-call-story.png"), full_page=True)
    await page.goto(f"{svc.base_url}/ops/")
    text = await page.locator("text=After-call actions flagged").inner_text()
    assert "enrol 1" in " ".join(text.split())
