"""workers/outcome.py: what an attempt of a call comes to, as one pure function of what happened and the call's
attempt count."""

from __future__ import annotations

import pytest

from outreach.errors import (
    ListTruncated,
    NotConnected,
    NotFound,
    OutreachRejected,
    OutreachUnavailable,
    RateLimited,
    ReconnectRequired,
)
from workers import retry
from workers.outcome import (
    BadEvent,
    CallBusy,
    DeadLettered,
    Duplicate,
    Finished,
    Flagged,
    Gone,
    Logged,
    Park,
    Parked,
    ProspectNotFound,
    Refused,
    RetryAt,
    decide,
    refusal_flag,
)


def test_a_finished_call_is_logged_or_flagged_with_its_flags() -> None:
    assert decide(Finished(77), 1) == Logged(77)
    assert decide(Finished(77, ("task_refused:409:conflict",)), 3) == Flagged(77, ("task_refused:409:conflict",))
    assert decide(Duplicate(), 1) == Duplicate() and decide(Gone(), 5) == Gone()


@pytest.mark.parametrize(("blocked", "reason"), [
    (ReconnectRequired("refused"), "needs_reconnect"),
    (NotConnected("never"), "not_connected"),
    (Park("not_mapped"), "not_mapped"),
    (Park("paused"), "paused"),
])
def test_a_rep_who_cannot_be_served_parks_the_event(blocked: Exception, reason: str) -> None:
    assert decide(blocked, 11) == Parked(reason)  # whatever the attempt: parking is no failure


@pytest.mark.parametrize("refused", [
    OutreachRejected(422, "validationError", "/data/attributes/to"), NotFound(404, None, None), ProspectNotFound(),
    ListTruncated("Outreach listed more than 50 pages of calls"), BadEvent(), Refused("no_mailbox"),
])
def test_what_would_fail_again_is_dead_lettered_at_once_with_a_safe_reason(refused: Exception) -> None:
    outcome = decide(refused, 1)
    assert outcome == DeadLettered(str(refused))
    assert outcome.reason in ("Outreach answered 422 validationError at /data/attributes/to",
                              "Outreach answered 404 error", "prospect not found in Outreach",
                              "Outreach listed more than 50 pages of calls", "stored event does not match the schema",
                              "no_mailbox")  # an essential step's refusal


def test_a_transient_failure_backs_off_by_the_calls_attempt_then_gives_up() -> None:
    unavailable = OutreachUnavailable("Outreach answered 503")
    assert decide(unavailable, 1, spread=0.5) == RetryAt(2.0, "Outreach answered 503", "attempt_failed")
    assert decide(unavailable, 3, spread=0.0) == RetryAt(8.0 * 0.8, "Outreach answered 503", "attempt_failed")
    assert decide(OutreachUnavailable("503", retry_after=30.0), 1, spread=1.0) == RetryAt(30.0, "503",
                                                                                          "attempt_failed")
    last = retry.LOG_CALL.max_attempts
    assert decide(unavailable, last - 1).__class__ is RetryAt
    assert decide(unavailable, last) == DeadLettered(f"Outreach answered 503; gave up after {last} attempts")
    assert decide(TimeoutError(), 2, spread=0.5) == RetryAt(4.0, "Outreach too slow (job budget spent)",
                                                            "attempt_failed")


def test_a_rate_limit_waits_for_outreach_and_spends_no_attempt_limit() -> None:
    outcome = decide(RateLimited(12.0), 100, spread=0.25)
    assert outcome == RetryAt(12.5, "rate limited by Outreach", "rate_limited")


def test_a_call_held_by_another_worker_comes_back_shortly_and_is_no_attempt() -> None:
    assert decide(CallBusy(), 12, spread=0.5) == RetryAt(1.5, "call busy", None)


def test_a_bug_backs_off_and_is_marked_unexpected() -> None:
    outcome = decide(KeyError("prospect"), 1, spread=0.5)
    assert outcome == RetryAt(2.0, "internal error (KeyError)", "attempt_failed", unexpected=True)
    assert "prospect" not in outcome.reason  # an error's message may quote data: only its type is kept
    assert decide(KeyError("x"), 12) == DeadLettered("internal error (KeyError); gave up after 12 attempts", True)


def test_a_refusal_flag_names_the_step_the_status_and_the_error_id_only() -> None:
    assert refusal_flag("task", 409, "taskAlreadyComplete") == "task_refused:409:taskAlreadyComplete"
    assert refusal_flag("enrol", 422, None) == "enrol_refused:422:error"
