"""What follows a call (`data.after_call` of `call.completed`, and a team's rules per disposition).

The shapes are checked by pydantic; the rules that tie fields together (a reschedule needs a time and a task, a
finish needs the task completed, a follow-up one time) are `call_problems` and `rule_problems`, so that each names
the field at fault. `merge` is how a team's rule and the call's own `after_call` combine.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

TaskAction = Literal["complete", "keep", "reschedule"]
SequenceAction = Literal["advance", "finish_no_reply", "finish_replied", "pause"]
FINISHES = ("finish_no_reply", "finish_replied")
OutreachId = Annotated[int, Field(gt=0)]

# Days, weeks, hours, minutes, seconds: a month or a year has no fixed length, so "P1M" is refused, not guessed.
_DURATION = re.compile(r"^P(?=\d|T\d)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
MAX_AFTER = timedelta(days=366)
_TIMEDELTA = TypeAdapter(timedelta)


class FollowUp(BaseModel):
    """A new call task for the rep on the call's prospect: at `due_at`, or `after` the call's end."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    due_at: AwareDatetime | None = None
    after: str | None = None
    note: Annotated[str | None, Field(max_length=65_535)] = None

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and duration(value) is None:
            raise ValueError("must be an ISO 8601 duration in weeks, days, hours, minutes or seconds, "
                             "e.g. P2D or PT4H, above zero and at most P366D")
        return value

    def due(self, call_end: datetime) -> datetime:
        """When the follow-up is due (`after` counts from the call's end)."""
        if self.due_at is not None:
            return self.due_at
        span = duration(self.after or "")
        assert span is not None, "checked at ingress"
        return call_end + span


class AddToSequence(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sequence_id: OutreachId


class AfterCall(BaseModel):
    """Each field is a separate action; a field not sent is not there (`model_fields_set`), which is how a
    team's rule fills what the call leaves out."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task: TaskAction | None = None
    task_due_at: AwareDatetime | None = None
    sequence: SequenceAction | None = None
    follow_up: FollowUp | None = None
    opt_out_of_calls: bool | None = None
    add_to_sequence: AddToSequence | None = None


def duration(text: str) -> timedelta | None:
    """A positive duration of at most `MAX_AFTER`, or None."""
    if not _DURATION.match(text):
        return None
    span = _TIMEDELTA.validate_python(text)
    return span if timedelta(0) < span <= MAX_AFTER else None


def task_action(after: AfterCall | None, task_id: int | None, complete_task: bool | None) -> TaskAction | None:
    """What happens to the linked task: `after_call.task` wins over `complete_task`; without a task, nothing."""
    if task_id is None:
        return None
    if after is not None and after.task is not None:
        return after.task
    return "keep" if complete_task is False else "complete"


def call_problems(after: AfterCall, task_id: int | None, complete_task: bool | None) -> list[tuple[str, str]]:
    """(field under `after_call`, problem) for what the event itself gets wrong."""
    problems: list[tuple[str, str]] = []
    if after.task == "reschedule":
        if after.task_due_at is None:
            problems.append(("task_due_at", "required when task is reschedule"))
        if task_id is None:
            problems.append(("task", "reschedule needs the call's task_id"))
    if after.sequence in FINISHES and task_action(after, task_id, complete_task) != "complete":
        problems.append(("sequence", "a finish is sent with the task's completion: it needs task complete "
                                     "and a task_id"))
    problems += _follow_up_problems(after.follow_up)
    return problems


def rule_problems(after: AfterCall) -> list[tuple[str, str]]:
    """(field under the rule's `after_call`, problem): a rule holds no fixed time, only durations."""
    problems: list[tuple[str, str]] = []
    if after.task == "reschedule":
        problems.append(("task", "a rule cannot reschedule (it would need a fixed task_due_at)"))
    if after.task_due_at is not None:
        problems.append(("task_due_at", "a rule holds no fixed time"))
    if after.sequence in FINISHES and after.task == "keep":
        problems.append(("sequence", "a finish is sent with the task's completion: not with task keep"))
    if after.follow_up is not None and after.follow_up.due_at is not None:
        problems.append(("follow_up.due_at", "a rule's follow-up takes after (a duration), not due_at"))
    elif after.follow_up is not None and after.follow_up.after is None:
        problems.append(("follow_up", "needs after (an ISO 8601 duration such as P2D)"))
    return problems


def _follow_up_problems(follow_up: FollowUp | None) -> list[tuple[str, str]]:
    if follow_up is None:
        return []
    if (follow_up.due_at is None) == (follow_up.after is None):
        return [("follow_up", "needs exactly one of due_at and after")]
    return []


def merge(rule: AfterCall | None, own: AfterCall | None) -> AfterCall | None:
    """The team's rule with each top-level field the call's own `after_call` sets replacing the rule's (a
    `follow_up` whole, never field by field)."""
    if rule is None or own is None:
        return own if rule is None else rule
    taken = {name: getattr(own, name) for name in own.model_fields_set}
    kept = {name: getattr(rule, name) for name in rule.model_fields_set if name not in taken}
    return AfterCall.model_validate({**kept, **taken})
