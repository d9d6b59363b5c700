"""Events posted by Nooks to `POST /v1/nooks/events`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.after_call import AfterCall, TaskAction, call_problems, task_action

CALL_COMPLETED = "call.completed"

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
OutreachId = Annotated[int, Field(gt=0)]


class EventEnvelope(BaseModel):
    """What every Nooks event has; `data` is checked per type."""

    model_config = ConfigDict(extra="ignore")

    id: NonEmpty
    type: NonEmpty
    created_at: AwareDatetime | None = None
    data: dict[str, object] = Field(default_factory=dict)


class CallData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    team_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
    rep_email: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=254,
                                                pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")]
    call_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=63)]
    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    from_: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        default=None, alias="from"
    )
    direction: Literal["outbound", "inbound"] = "outbound"
    started_at: AwareDatetime
    answered_at: AwareDatetime | None = None
    duration_seconds: Annotated[float, Field(ge=0, le=86_400)] = 0
    prospect_id: OutreachId | None = None
    task_id: OutreachId | None = None
    disposition_id: OutreachId | None = None
    disposition: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=255)] = None
    notes: Annotated[str | None, Field(max_length=65_535)] = None
    recording_url: Annotated[str | None, StringConstraints(pattern=r"^https?://", max_length=255)] = None
    complete_task: bool | None = None
    after_call: AfterCall | None = None

    @model_validator(mode="after")
    def _answered_after_start(self) -> CallData:
        if self.answered_at is not None and self.answered_at < self.started_at:
            raise ValueError("answered_at is before started_at")
        return self

    @property
    def ended_at(self) -> datetime:
        """When the call ended: (answered_at or started_at) + duration_seconds."""
        return (self.answered_at or self.started_at) + timedelta(seconds=self.duration_seconds)

    def task_action(self, after: AfterCall | None) -> TaskAction | None:
        """What happens to the linked task under `after` (the call's own `after_call`, or merged with a rule):
        `complete_task` defaults to true when a task is linked; `after_call.task` wins over it."""
        return task_action(after, self.task_id, self.complete_task)

    def after_call_problems(self) -> list[tuple[str, str]]:
        """(`data.after_call.<field>`, problem) for each rule of the contract the event breaks."""
        if self.after_call is None:
            return []
        return [(f"data.after_call.{name}", problem)
                for name, problem in call_problems(self.after_call, self.task_id, self.complete_task)]


class CallCompletedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: NonEmpty
    type: Literal["call.completed"]
    created_at: datetime | None = None
    data: CallData
