"""What the dialer offers after a call, read live from Outreach and answered, never stored."""

from __future__ import annotations

from pydantic import BaseModel


class Disposition(BaseModel):
    id: int
    name: str | None = None
    outcome: str | None = None
    order: int | None = None


class DispositionList(BaseModel):
    dispositions: list[Disposition]


class Sequence(BaseModel):
    id: int
    name: str | None = None
    enabled: bool | None = None


class SequencePage(BaseModel):
    sequences: list[Sequence]
    next_cursor: str | None = None
