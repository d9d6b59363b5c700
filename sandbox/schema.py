"""The resource types the sandbox serves: Outreach's contract (`contract.py`) plus what the sandbox stores.

What a type *is* (attributes, relationships, read-only, filterable and sortable names) comes only from the
OpenAPI document. This module adds the sandbox's own choices, checked against it at import:
- `STORED`: the attributes a new record starts with (and their defaults) and the to-one relationships it
  carries. A record serves these plus any other spec attribute or to-one relationship written to it; the rest of
  the spec's (often 100+) attributes are absent rather than null, to keep records and pages small.
- to-many relationships are served when the data allows: the relationship is named after its target's plural
  (`prospect.phoneNumbers`, `task.calls`) and the target has one to-one relationship back (`phoneNumber.prospect`;
  when several, the one named after this type).
- `EVENTS`: webhook actions per resource (not in the OpenAPI document; from API-NOTES.md, "Webhooks").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import contract
from .contract import TypeSpec

# Outreach accepts `filter[id]` and `sort=id` on every collection though no badge says so (the API reference's
# overview, "Filtering" and "Sorting", uses them); the sandbox's own `links.related` rely on `filter[x][id]`.
ALWAYS_FILTERABLE = frozenset({"id"})

_PHONES = ("homePhones", "mobilePhones", "workPhones", "otherPhones", "voipPhones")
# type -> (attribute defaults, stored to-one relationships)
STORED: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "user": ({"email": None, "firstName": None, "lastName": None, "name": None, "username": None,
              "locked": False}, ()),
    "mailbox": ({"email": None, "userId": None, "sendDisabled": False}, ("user",)),
    "account": ({"name": None, "domain": None}, ("owner",)),
    "prospect": ({"firstName": None, "lastName": None, "title": None, "timeZone": None, "emails": [],
                  **{p: [] for p in _PHONES}, "callOptedOut": False, "callsOptStatus": None},
                 ("account", "owner")),
    "phoneNumber": ({"number": None, "rawNumber": None, "phoneType": None, "extension": None, "order": 0},
                    ("prospect",)),
    "callDisposition": ({"name": None, "outcome": None, "order": 0}, ("creator",)),
    "callPurpose": ({"name": None, "order": 0}, ()),
    "taskPurpose": ({"name": None, "order": 0, "taskType": None}, ()),
    "opportunity": ({"name": None}, ()),
    "sequence": ({"name": None, "enabled": True}, ("owner",)),
    "sequenceStep": ({"order": 0, "stepType": None, "displayName": None}, ("sequence", "callPurpose")),
    "sequenceState": ({"state": None, "stateChangedAt": None},
                      ("prospect", "sequence", "sequenceStep", "mailbox", "account", "user")),
    "task": ({"action": None, "taskType": None, "state": "incomplete", "dueAt": None, "note": None,
              "stateChangedAt": None, "completed": False, "completedAt": None},
             ("prospect", "account", "owner", "sequence", "sequenceState", "sequenceStep", "taskPurpose",
              "completer")),
    "call": ({"direction": None, "outcome": None, "from": None, "to": None, "dialedAt": None, "answeredAt": None,
              "completedAt": None, "note": None, "externalVendor": None, "vendorCallId": None, "recordingUrl": None,
              "sequenceAction": None, "tags": [], "state": None, "uid": None},
             ("prospect", "user", "callDisposition", "callPurpose", "task", "sequence", "sequenceState",
              "sequenceStep", "phoneNumber", "opportunity")),
    "webhook": ({"url": None, "resource": "*", "action": "*", "secret": None, "active": True,
                 "disabledReason": None, "disabledSince": None}, ("authorizer", "creator", "updater")),
}
_CRUD = frozenset({"created", "updated", "destroyed"})
EVENTS: dict[str, frozenset[str]] = {
    "user": frozenset({"created", "updated"}),
    "account": _CRUD,
    "prospect": _CRUD,
    "sequenceState": _CRUD | {"advanced", "finished"},
    "task": _CRUD | {"completed"},
    "call": _CRUD,
}


class SchemaError(ValueError):
    """The sandbox's own tables name something Outreach's contract does not have."""


@dataclass(frozen=True)
class ResourceType:
    name: str
    plural: str | None
    spec: TypeSpec
    defaults: dict[str, Any]  # attribute -> value of a new record
    to_one: dict[str, str]  # the to-one relationships a new record carries -> target type
    to_many: dict[str, tuple[str, str]]  # served to-many -> (target type, its to-one relationship back here)
    events: frozenset[str]  # webhook actions this resource emits

    def can_filter(self, attr: str) -> bool:
        spec = self.spec.attributes.get(attr)
        return attr in ALWAYS_FILTERABLE or (spec is not None and spec.filterable)

    def can_sort(self, attr: str) -> bool:
        spec = self.spec.attributes.get(attr)
        return attr in ALWAYS_FILTERABLE or (spec is not None and spec.sortable)

    def is_timestamp(self, attr: str) -> bool:
        spec = self.spec.attributes.get(attr)
        return spec is not None and spec.is_timestamp

    def json_type(self, attr: str) -> str | None:
        spec = self.spec.attributes.get(attr)
        return "integer" if attr == "id" else (spec.json_type if spec else None)

    def to_one_target(self, rel: str) -> str | None:
        """The target type of a single-type to-one relationship of the contract, else None."""
        spec = self.spec.relationships.get(rel)
        return spec.target if spec is not None and not spec.many else None


def _build(spec: TypeSpec, specs: dict[str, TypeSpec]) -> ResourceType:
    defaults, to_one_names = STORED.get(spec.name, ({}, ()))
    for attr in defaults:
        if attr not in spec.attributes:
            raise SchemaError(f"{spec.name}.{attr} is not an attribute in Outreach's contract")
    to_one: dict[str, str] = {}
    for rel in to_one_names:
        found = spec.relationships.get(rel)
        if found is None or found.many or found.target is None:
            raise SchemaError(f"{spec.name}.{rel} is not a single-type to-one relationship in Outreach's contract")
        to_one[rel] = found.target
    stamps: dict[str, Any] = {a: None for a in ("createdAt", "updatedAt") if a in spec.attributes}
    return ResourceType(
        name=spec.name,
        plural=spec.plural,
        spec=spec,
        defaults={**defaults, **stamps},
        to_one=to_one,
        to_many=_to_many(spec, specs),
        events=EVENTS.get(spec.name, frozenset()),
    )


def _to_many(spec: TypeSpec, specs: dict[str, TypeSpec]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for rel in spec.relationships.values():
        target = specs.get(rel.target or "")
        if not rel.many or target is None or target.plural != rel.name:
            continue  # a subset ("activeSequenceStates") or a relation through another record: not derivable
        back = [r.name for r in target.relationships.values() if not r.many and r.targets == (spec.name,)]
        inverse = spec.name if spec.name in back else (back[0] if len(back) == 1 else None)
        if inverse is not None and "id" in target.relationships[inverse].filter_by:
            out[rel.name] = (target.name, inverse)  # `links.related` filters by the inverse: it must be filterable
    return out


def _types() -> dict[str, ResourceType]:
    specs = contract.types()
    unknown = set(STORED) - set(specs)
    if unknown:
        raise SchemaError(f"not types in Outreach's contract: {sorted(unknown)}")
    return {name: _build(spec, specs) for name, spec in specs.items()}


TYPES: dict[str, ResourceType] = _types()
BY_PLURAL: dict[str, ResourceType] = {t.plural: t for t in TYPES.values() if t.plural}


def lookup(name: str) -> ResourceType | None:
    """Find a type by singular or plural name."""
    return TYPES.get(name) or BY_PLURAL.get(name)
