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
