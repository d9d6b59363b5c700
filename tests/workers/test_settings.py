"""The worker's settings keep the contract's timing promises and run a function under every job name."""

from __future__ import annotations

from arq.worker import Function

from schemas.settings import Settings
from store import jobs
from store.job_queue import create_worker
from store.redis import connect
from workers.settings import WorkerSettings, tuned


def _worker(settings: Settings):  # type: ignore[no-untyped-def]
    return create_worker(WorkerSettings, connect(settings), handle_signals=False, **tuned(settings))


def test_a_dead_workers_job_is_taken_up_within_two_minutes(settings: Settings) -> None:
    assert _worker(settings).in_progress_timeout_s <= 110  # plus up to a poll and a cron tick: under 120 s


def test_every_job_name_runs_the_function_of_that_name(settings: Settings) -> None:
    functions: dict[str, Function] = _worker(settings).functions
    assert set(functions) == {*jobs.QUEUED, *jobs.CRON}
    for name, function in functions.items():
        assert function.coroutine.__qualname__ == name  # the name says which function runs


def test_jobs_cross_redis_as_json_not_pickle() -> None:
    assert WorkerSettings.job_serializer({"a": 1}) == b'{"a":1}'
    assert WorkerSettings.job_deserializer(b'{"a":1}') == {"a": 1}
