"""What one attempt of a call came to, decided in one place: `decide`, a pure function of what happened and the
call's attempt count. workers/log_call.py then carries the outcome out (ledger, /ops, figures) and nothing else
interprets an error."""

from __future__ import annotations

from dataclasses import dataclass

from outreach.errors import (
    ListTruncated,
    NotConnected,
    OutreachRejected,
    OutreachUnavailable,
    RateLimited,
    ReconnectRequired,
)
from schemas.connection import ConnectionStatus
from workers import retry


class Park(Exception):
    """The rep cannot be served yet (not connected, needs reconnecting, not mapped, paused by an operator)."""


class ProspectNotFound(Exception):
    def __str__(self) -> str:
        return "prospect not found in Outreach"


class Refused(Exception):
    """A step that cannot be done for this call, as only Outreach could tell (no sequence state to pause, no mailbox
    that may send): workers/pipeline.py flags and marks it like a 4xx. `reason`: a word or two, ids only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallBusy(Exception):
    """Another worker holds this call_id right now."""


class BadEvent(Exception):
    """The stored event does not match the schema."""

    def __str__(self) -> str:
        return "stored event does not match the schema"


@dataclass(frozen=True)
class Finished:
    """Every step ran: the call is in Outreach (`flags`: what was left out, and why)."""

    outreach_call_id: int
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Logged:
    outreach_call_id: int


@dataclass(frozen=True)
class Flagged:
    """Logged, with caveats an operator should see (a step refused, a link not found)."""

    outreach_call_id: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Duplicate:
    """An earlier event with this call_id is logged already."""


@dataclass(frozen=True)
class Gone:
    """The event is no longer stored (logged by another job, or removed by an operator)."""


@dataclass(frozen=True)
class Parked:
    reason: str


@dataclass(frozen=True)
class DeadLettered:
    reason: str
    unexpected: bool = False  # a bug, not Outreach: the job logs where it happened


@dataclass(frozen=True)
class RetryAt:
    """Run the job again in `seconds`. `story`: the step the event's story shows (attempt_failed, rate_limited;
    None while another worker holds the call, which is no attempt)."""

    seconds: float
    reason: str
    story: str | None
    unexpected: bool = False


Outcome = Logged | Flagged | Duplicate | Gone | Parked | DeadLettered | RetryAt
Happened = Finished | Duplicate | Gone | Exception


def decide(happened: Happened, attempt: int, *, spread: float = 0.5) -> Outcome:
    """What an attempt came to. `attempt`: the call's attempt count (the ledger's); `spread`: where in each
    wait's jitter to land, 0 to 1 (the caller draws it: this function is pure)."""
    match happened:
        case Finished(outreach_call_id, flags):
            return Flagged(outreach_call_id, flags) if flags else Logged(outreach_call_id)
        case Duplicate() | Gone():
            return happened
        case Park() | ReconnectRequired() | NotConnected():
            return Parked(park_reason(happened))
        case RateLimited(retry_after=retry_after):
            return RetryAt(retry.rate_limit_wait(retry_after, spread), "rate limited by Outreach", "rate_limited")
        case CallBusy():
            return RetryAt(retry.BUSY_SECONDS + retry.BUSY_SPREAD_SECONDS * spread, "call busy", None)
        case OutreachRejected() | ProspectNotFound() | ListTruncated() | BadEvent() | Refused():
            # Sent again it would fail again: a person must look. A list too long to read whole will be as long
            # next time (its text names only the resource).
            return DeadLettered(str(happened))
        case OutreachUnavailable(retry_after=hint):
            return _again(str(happened), hint, attempt, spread)
        case TimeoutError():
            return _again("Outreach too slow (job budget spent)", None, attempt, spread)
        case _:
            return _again(f"internal error ({type(happened).__name__})", None, attempt, spread, unexpected=True)


def _again(reason: str, hint: float | None, attempt: int, spread: float, *, unexpected: bool = False
           ) -> RetryAt | DeadLettered:
    if retry.LOG_CALL.exhausted(attempt):
        return DeadLettered(f"{reason}; gave up after {attempt} attempts", unexpected)
    return RetryAt(retry.LOG_CALL.backoff(attempt, hint, spread), reason, "attempt_failed", unexpected)


def park_reason(blocked: Exception) -> str:
    if isinstance(blocked, ReconnectRequired):
        return ConnectionStatus.NEEDS_RECONNECT.value
    if isinstance(blocked, NotConnected):
        return ConnectionStatus.NOT_CONNECTED.value
    return str(blocked)


REFUSED = "_refused"


def refusal_flag(step: str, status: int, error_id: str | None) -> str:
    """The flag of a step Outreach refused with a 4xx: `<step>_refused:<status>:<error id>` (ids only)."""
    return f"{step}{REFUSED}:{status}:{error_id or 'error'}"
