"""What a call's outcome asks of Outreach, decided once per attempt by one pure function (`plan`) from the event
and the team's rule for its disposition (merged: schemas/after_call.py). The steps that carry it out are in
workers/after_call_steps.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.after_call import FINISHES, AfterCall, TaskAction
from schemas.events import CallData

MARKER_NOTE = "[nooks:{call_id}]"  # ends a follow-up's note: only this service writes it (its done-check)
MAX_NOTE = 65_535  # Outreach's limit on a task's note


@dataclass(frozen=True)
class Plan:
    task: TaskAction | None = None  # None: no task linked
    task_due_at: datetime | None = None  # reschedule
    completion_action: str | None = None  # finish_no_reply | finish_replied, sent with markComplete
    pause: bool = False
    follow_up_due: datetime | None = None
    follow_up_note: str | None = None
    opt_out: bool = False
    enrol_sequence_id: int | None = None
    refused: tuple[str, ...] = ()  # flags for what the merged outcome asks and cannot be done


def plan(call: CallData, after: AfterCall | None) -> Plan:
    """`after`: the call's own `after_call`, already merged with the team's rule. The event's own fields were
    checked at ingress; a merge with a rule can still ask a finish of a task the call keeps: that is refused
    (flagged), never guessed."""
    task = call.task_action(after)
    if after is None:
        return Plan(task=task)
    refused: list[str] = []
    completion = after.sequence if after.sequence in FINISHES else None
    if completion is not None and task != "complete":
        refused.append("sequence_refused:task_not_completed")
        completion = None
    if task == "reschedule" and after.task_due_at is None:
        refused.append("reschedule_refused:no_due_at")
        task = "keep"
    follow_up = after.follow_up
    return Plan(
        task=task,
        task_due_at=after.task_due_at if task == "reschedule" else None,
        completion_action=completion,
        pause=after.sequence == "pause",
        follow_up_due=follow_up.due(call.ended_at) if follow_up is not None else None,
        follow_up_note=follow_up.note if follow_up is not None else None,
        opt_out=after.opt_out_of_calls is True,
        enrol_sequence_id=after.add_to_sequence.sequence_id if after.add_to_sequence is not None else None,
        refused=tuple(refused),
    )


def follow_up_note(call_id: str, note: str | None) -> str:
    """The follow-up's note, ending with the marker its done-check looks for."""
    marker = MARKER_NOTE.format(call_id=call_id)
    if not note:
        return marker
    return f"{note[:MAX_NOTE - len(marker) - 2]}\n\n{marker}"
