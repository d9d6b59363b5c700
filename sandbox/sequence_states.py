"""Sequence states: enrolment (`POST /sequenceStates`) and the member actions pause, resume and finish.

Outreach requires a prospect, a sequence and a sending mailbox, and refuses (422) a prospect already active in
that sequence (API-NOTES.md, "Writes after the call"); the actions take no parameters and refuse a state they
cannot apply to.
"""

from __future__ import annotations

from typing import Any

from . import timeutil
from .jsonapi import ApiError, not_found, validation
from .state import Change, Record, Store

ACTIONS = ("pause", "resume", "finish")
_REQUIRED = ("prospect", "sequence", "mailbox")
_FROM = {"pause": ("active",), "resume": ("paused",), "finish": ("active", "paused", "pending")}
_TO = {"pause": "paused", "resume": "active", "finish": "finished"}


def enrolment(store: Store, rels: dict[str, int | None]) -> tuple[dict[str, Any], dict[str, int | None]]:
    """The attributes and relationships of a new sequence state, or 422 naming what Outreach would refuse."""
    for name in _REQUIRED:
        if rels.get(name) is None:
            raise validation(f"A sequence state must have a {name}.", f"/data/relationships/{name}")
    mailbox = store.get("mailbox", rels["mailbox"])
    if mailbox is None or mailbox.attributes.get("sendDisabled"):
        raise validation("Sending is disabled for this mailbox.", "/data/relationships/mailbox")
    prospect_id, sequence_id = rels["prospect"], rels["sequence"]
    for state_id in store.ids_by_rel("sequenceState", "prospect", prospect_id or 0):
        other = store.get("sequenceState", state_id)
        if other is not None and other.rels.get("sequence") == sequence_id and other.attributes["state"] != "finished":
            raise validation("The prospect is already active in this sequence.", "/data/relationships/prospect")
    prospect = store.get("prospect", prospect_id)
    steps = [store.get("sequenceStep", i) for i in store.ids_by_rel("sequenceStep", "sequence", sequence_id or 0)]
    first = min((s for s in steps if s is not None), key=lambda s: s.attributes["order"], default=None)
    attrs = {"state": "active", "stateChangedAt": timeutil.now_iso()}
    return attrs, {
        **rels,
        "sequenceStep": first.id if first else None,
        "account": prospect.rels.get("account") if prospect else None,
        "user": mailbox.rels.get("user"),
    }


def perform(store: Store, state_id: int, action: str) -> Record:
    if action not in ACTIONS:
        raise ApiError(404, "resourceNotFound", "Resource Not Found", f"Unknown sequence state action '{action}'.")
    state = store.get("sequenceState", state_id)
    if state is None:
        raise not_found("sequenceState", state_id)
    if state.attributes.get("state") not in _FROM[action]:
        raise validation(f"A sequence state that is {state.attributes.get('state')} cannot {action}.",
                         "/data/attributes/state")
    store.update("sequenceState", state.id, {"state": _TO[action], "stateChangedAt": timeutil.now_iso()})
    if action == "finish":
        store.emit(Change("finished", "sequenceState", state.id, bare=True))
    return state
