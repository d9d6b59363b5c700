"""The Nooks app's view of a rep's due call tasks: read live from Outreach, answered, never stored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Phone(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: str
    type: str  # mobile | work | home | other | voip (or whatever other type Outreach reports, lower-cased)


class Prospect(BaseModel):
    id: int
    name: str | None = None
    title: str | None = None
    time_zone: str | None = None
    phones: list[Phone] = []  # in dialing order


class Named(BaseModel):
    """A related record reduced to what the dialer shows: its id and name."""

    id: int
    name: str | None = None


class CallTask(BaseModel):
    task_id: int
    due_at: str | None = None  # UTC, ISO 8601 with a `Z`
    note: str | None = None
    prospect: Prospect | None = None
    account: Named | None = None
    sequence: Named | None = None
    step: Named | None = None
    call_purpose: Named | None = None


class CallTaskPage(BaseModel):
    tasks: list[CallTask]
    next_cursor: str | None = None
    opted_out_skipped: int = 0  # call tasks on this page left out because the prospect opted out of calls
