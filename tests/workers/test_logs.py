"""arq's per-job lines for log_call are dropped (ours says the same); every other line is kept."""

from __future__ import annotations

import logging

import pytest

from workers.logs import QuietCallJobLines


def record(msg: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    # Exactly as arq.worker builds them (arq/worker.py, run_job).
    return logging.LogRecord("arq.worker", level, "worker.py", 1, msg, args, None)


@pytest.mark.parametrize(("line", "kept"), [
    (record("%6.2fs → %s(%s)%s", 0.01, "evt_1:log_call", "'evt_1'", ""), False),
    (record("%6.2fs → %s(%s)%s", 5.3, "evt_1:log_call", "'evt_1'", " delayed=5.30s"), False),
    (record("%6.2fs → %s(%s)%s", 0.01, "evt_1:log_call", "'evt_1'", " try=2"), True),
    (record("%6.2fs → %s(%s)%s", 9.0, "evt_1:log_call", "'evt_1'", " try=3 delayed=9.00s"), True),
    (record("%6.2fs ← %s ● %s", 0.31, "evt_1:log_call", "{'status': 'logged'}"), False),
    (record("%6.2fs → %s(%s)%s", 0.01, "subs:t:r:1:sync_subscriptions", "'t', 'r'", ""), True),
    (record("%6.2fs ← %s ● %s", 0.0, "release_ready", "{'released': 0}"), True),
    (record("%6.2fs ↻ %s retrying job in %0.2fs", 0.1, "evt_1:log_call", 2.0), True),
    (record("%6.2fs ! %s failed, %s: %s", 0.1, "evt_1:log_call", "KeyError", "x", level=logging.ERROR), True),
    (record("Starting worker for %s functions: %s", 6, "log_call, ..."), True),
])
def test_only_log_calls_own_start_and_success_lines_are_dropped(line: logging.LogRecord, kept: bool) -> None:
    assert QuietCallJobLines().filter(line) is kept
