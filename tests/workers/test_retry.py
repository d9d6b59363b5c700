"""workers/retry.py: every job's retry decisions, as pure functions."""

from __future__ import annotations

from outreach.errors import RateLimited
from workers import retry


def test_backoff_doubles_from_its_base_within_the_jitter_and_the_cap() -> None:
    policy = retry.Policy(max_attempts=5, base_seconds=2.0, cap_seconds=10.0)
    for attempt, base in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)):
        for _ in range(50):
            assert 0.8 * base <= policy.backoff(attempt) <= 1.2 * base


def test_outreachs_retry_after_is_never_cut_short() -> None:
    assert retry.LOG_CALL.backoff(1, hint=30.0) == 30.0
    assert retry.LOG_CALL.again(1, hint=30.0).defer_score == 30_000


def test_attempt_limits() -> None:
    assert not retry.LOG_CALL.exhausted(11) and retry.LOG_CALL.exhausted(12)
    assert retry.NOTIFY.exhausted(10) and retry.USER_REFRESH.exhausted(8) and retry.SUBSCRIPTION_SYNC.exhausted(8)


def test_a_429_waits_for_retry_after_plus_a_little_spread() -> None:
    for _ in range(50):
        defer = retry.after_rate_limit(RateLimited(12.0)).defer_score
        assert defer is not None and 12_000 <= defer <= 14_000
    busy = retry.shortly(1, 1).defer_score
    assert busy is not None and 1_000 <= busy <= 2_000
