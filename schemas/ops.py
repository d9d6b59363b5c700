"""What operators see: dead letters, flags, parked events. Ids and reasons only, never Outreach values."""

from __future__ import annotations

from pydantic import BaseModel


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
