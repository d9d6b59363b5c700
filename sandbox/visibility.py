"""Per-user record visibility, as Outreach's governance settings restrict it ("own records only").

A restricted user reads only the records it owns (`owner`, or `user` for calls; a sequence state through its
prospect); records with no owner (users, sequences, webhooks, ...) stay visible. Reads of other records answer
404 like a record that does not exist, collections leave them out, and a webhook whose authorizer is restricted
does not deliver them: "A webhook only delivers records its authorizer may read" (API-NOTES.md).
"""

from __future__ import annotations

from .state import Record, Store

OWNER_RELATIONSHIP = {"call": "user"}
THROUGH = {"sequenceState": ("prospect", "prospect")}  # type → (relationship, type it points to)


class Visibility:
    def __init__(self) -> None:
        self.own_only: set[int] = set()

    def clear(self) -> None:
        self.own_only.clear()

    def restrict(self, user_id: int, *, own_only: bool) -> None:
        if own_only:
            self.own_only.add(user_id)
        else:
            self.own_only.discard(user_id)

    def can_read(self, store: Store, user_id: int | None, type_: str, rels: dict[str, int | None]) -> bool:
        if user_id is None or user_id not in self.own_only:
            return True
        if type_ in THROUGH:
            name, target = THROUGH[type_]
            parent = store.get(target, rels.get(name))
            return parent is None or self.can_read(store, user_id, target, parent.rels)
        owner = OWNER_RELATIONSHIP.get(type_, "owner")
        return owner not in rels or rels[owner] == user_id

    def sees(self, store: Store, user_id: int | None, record: Record) -> bool:
        return self.can_read(store, user_id, record.type, record.rels)
