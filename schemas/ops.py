"""What operators see: dead letters, flags, parked events. Ids and reasons only, never Outreach values."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    event_id: str
    call_id: str | None
    rep_email: str | None
    team_id: str | None
    reason: str
    attempts: int
    dead_at: int


class Flag(BaseModel):
    event_id: str
    call_id: str
    team_id: str
    rep_email: str
    outreach_call_id: int | None
    flags: list[str]
    at: int


class ParkedEvent(BaseModel):
    event_id: str
    team_id: str
    rep_email: str
    reason: str


class TeamWebhooks(BaseModel):
    """A team's one set of Outreach webhook subscriptions, as /ops shows it."""

    team_id: str
    health: str  # "ok", "degraded" (see problems) or "none" (nobody can hold a set)
    problems: list[str]
    holder: str | None
    holder_status: str | None  # the holder's connection: connected, needs_reconnect, not_connected
    holder_since: int | None
    subscribed: list[str]  # resources the holder's set covers
    missing: list[str]
    other_sets: dict[str, int]  # rep → subscriptions still held outside the holder's set (a move, an older version)
    reps: int  # reps of the team with a stored connection
    checked_at: int | None
class EventIds(BaseModel):
    """Who an event is about, by id: enough to index it for search."""

    team_id: str
    call_id: str
    rep_email: str


class StoryEntry(BaseModel):
    """One step of an event's story. `detail` is one of our reasons (status codes, error ids), never a value."""

    at: float
    step: str  # received, duplicate, attempt_failed, rate_limited, parked, released, dead_lettered, retried, ...
    detail: str | None = None
    attempt: int | None = None
    outreach_call_id: int | None = None
    by: str | None = None  # the operator, for operator actions


class EventStory(BaseModel):
    event_id: str
    team_id: str | None
    call_id: str | None
    rep_email: str | None
    state: str  # what the last step left it as: queued, retrying, parked, dead_lettered, logged, discarded, ...
    outreach_call_id: int | None
    task_completed: bool
    steps: list[StoryEntry]


class Retrying(BaseModel):
    event_id: str
    call_id: str | None
    team_id: str | None
    rep_email: str | None
    attempt: int
    reason: str
    next_at: float


class DeadLetterFilter(BaseModel):
    """Which dead letters a bulk action takes: every given field must match (all of them when empty)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)
    team_id: str | None = Field(default=None, max_length=128)
    rep_email: str | None = Field(default=None, max_length=254)

    def matches(self, letter: DeadLetter) -> bool:
        return ((self.reason is None or self.reason == letter.reason)
                and (self.team_id is None or self.team_id == letter.team_id)
                and (self.rep_email is None or self.rep_email.lower() == (letter.rep_email or "").lower()))

    def described(self) -> str:
        parts = [f"{name}={value}" for name, value in self.model_dump().items() if value]
        return " ".join(parts) or "all"


class AuditEntry(BaseModel):
    id: str
    at: float
    who: str
    action: str
    target: str
    count: int
    outcome: str = "done"  # or why it did not (all of it): not_found, event_gone, stopped after N: <error>


class ParkedRep(BaseModel):
    team_id: str
    rep_email: str
    count: int
    reasons: dict[str, int]  # reason → events (in a sample when `sampled`)
    sampled: bool
    event_ids: list[str]  # a few of them, to search for
    paused: bool = False
