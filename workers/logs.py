"""The worker's log lines: one per logged call, ours (`logged event=… call=… outreach_call=… queued=…s`).

arq adds a line when each job starts and another when it succeeds. For `log_call` they repeat what ours says
(ours also has the time queued), and at hundreds of calls a second they tripled the log and cost CPU the worker
needs (docs/tuning.md). They are dropped for `log_call` only, and its start line only on a first try: a retry
(`try=N`) keeps it, as do every other job's lines and arq's retry, failure and timeout lines.
"""

from __future__ import annotations

import logging

_STARTED = "%6.2fs → %s(%s)%s"
_SUCCEEDED = "%6.2fs ← %s ● %s"
_QUIET_FUNCTION = ":log_call"


class QuietCallJobLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg not in (_STARTED, _SUCCEEDED) or not isinstance(args, tuple) or len(args) < 2:
            return True
        if not str(args[1]).endswith(_QUIET_FUNCTION):
            return True
        return record.msg == _STARTED and " try=" in str(args[3])  # arq's `extra`: " try=N", " delayed=…s"


def quiet_call_job_lines() -> None:
    logging.getLogger("arq.worker").addFilter(QuietCallJobLines())
