"""Tasks: creation (`POST /tasks`) and the member actions (`/tasks/{id}/actions/...`), whose parameters travel in
the query string."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import timeutil
from .jsonapi import ApiError, not_found, validation
from .state import Change, Record, Store

ACTIONS = ("markComplete", "snooze", "reschedule")
TASK_ACTIONS = ("action_item", "call", "email", "in_person")  # `task.action`'s description lists these
SUBJECTS = ("prospect", "account")  # `subject` may also be an opportunity: the sandbox does not model those


def creation(store: Store, attrs: dict[str, Any], subject: Any, rels: dict[str, int | None]
             ) -> dict[str, int | None]:
    """Check a new task as Outreach does and derive its read-only relationships from `subject` (a task's
    `prospect` and `account` cannot be written: API-NOTES.md, "Writes after the call")."""
    if attrs.get("action") not in TASK_ACTIONS:
        raise validation(f"action must be one of {', '.join(TASK_ACTIONS)}.", "/data/attributes/action")
    if not isinstance(attrs.get("dueAt"), str):
        raise validation("A task must have a dueAt.", "/data/attributes/dueAt")
    if rels.get("owner") is None:
        raise validation("A task must have an owner.", "/data/relationships/owner")
    attrs.update(taskType="manual", state="incomplete", stateChangedAt=timeutil.now_iso())
    out = dict(rels)
    linkage = subject.get("data") if isinstance(subject, dict) else None
    if linkage is None:
        return out
    kind, id_ = linkage["type"], int(linkage["id"])
    if kind not in SUBJECTS:
        raise validation(f"The sandbox stores no task subject of type '{kind}'.", "/data/relationships/subject")
    target = store.get(kind, id_)
    if target is None:
        raise validation(f"{kind} {id_} does not exist.", "/data/relationships/subject")
    if kind == "prospect":
        out.update(prospect=id_, account=target.rels.get("account"))
    else:
        out["account"] = id_
    return out


def perform(store: Store, task_id: int, action: str, params: dict[str, str], user_id: int) -> Record:
    if action not in ACTIONS:
        raise ApiError(404, "resourceNotFound", "Resource Not Found", f"Unknown task action '{action}'.")
    task = store.get("task", task_id)
    if task is None:
        raise not_found("task", task_id)
    if action == "markComplete":
        _mark_complete(store, task, params.get("completionAction") or "", user_id)
    else:
        _move_due(store, task, action, params.get("dueAt"))
    return task


def _mark_complete(store: Store, task: Record, completion: str, user_id: int) -> None:
    if task.attributes.get("state") == "complete":
        raise validation("This task is already complete.", "/data/attributes/state")
    stamp = timeutil.now_iso()
    done = {"state": "complete", "completed": True, "completedAt": stamp, "stateChangedAt": stamp, "updatedAt": stamp}
    store.update("task", task.id, done, {"completer": user_id})
    store.emit(Change("completed", "task", task.id, bare=True))
    state = store.get("sequenceState", task.rels.get("sequenceState"))
    if state is not None and state.attributes.get("state") != "finished":
        _advance(store, state, finish=completion in ("finish_no_reply", "finish_replied"))


def _advance(store: Store, state: Record, *, finish: bool) -> None:
    """Completing a sequence task moves its prospect to the next step, or finishes the sequence."""
    step = store.get("sequenceStep", state.rels.get("sequenceStep"))
    nxt = None
    if step is not None and not finish:
        ids = store.ids_by_rel("sequenceStep", "sequence", step.rels["sequence"] or 0)
        siblings = (store.get("sequenceStep", i) for i in ids)
        later = [s for s in siblings if s is not None and s.attributes["order"] > step.attributes["order"]]
        nxt = min(later, key=lambda s: s.attributes["order"], default=None)
    stamp = timeutil.now_iso()
    if nxt is None:
        store.update("sequenceState", state.id, {"state": "finished", "stateChangedAt": stamp})
        store.emit(Change("finished", "sequenceState", state.id, bare=True))
    else:
        store.update("sequenceState", state.id, {}, {"sequenceStep": nxt.id})
        store.emit(Change("advanced", "sequenceState", state.id, bare=True))


def _move_due(store: Store, task: Record, action: str, due: str | None) -> None:
    if task.attributes.get("state") == "complete":
        raise validation("A completed task cannot be rescheduled.", "/data/attributes/state")
    if due is None and action == "reschedule":
        raise validation("actionParams[dueAt] is required.", "/data/attributes/dueAt")
    if due is None:
        current = task.attributes.get("dueAt")
        base = timeutil.parse(current) if current else timeutil.now()
        due = timeutil.iso(max(base, timeutil.now()) + timedelta(days=1))
    else:
        try:
            due = timeutil.iso(timeutil.parse(due))
        except ValueError:
            raise validation("actionParams[dueAt] must be an ISO 8601 timestamp.", "/data/attributes/dueAt") from None
    store.update("task", task.id, {"dueAt": due})
