"""The worker's settings keep the contract's timing promises."""

from __future__ import annotations

from schemas.settings import Settings
from workers.settings import WorkerSettings
from workers.worker import create_worker


def test_a_dead_workers_job_is_taken_up_within_two_minutes(settings: Settings) -> None:
    worker = create_worker(redis_settings=WorkerSettings.redis_settings_for(settings.redis_url), handle_signals=False)
    assert worker.in_progress_timeout_s <= 110  # plus up to a poll and a cron tick: under 120 s


def test_jobs_cross_redis_as_json_not_pickle() -> None:
    assert WorkerSettings.job_serializer({"a": 1}) == b'{"a":1}'
    assert WorkerSettings.job_deserializer(b'{"a":1}') == {"a": 1}
