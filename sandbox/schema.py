"""The resource types the sandbox knows: attributes, relationships, filters, webhook events.

Filterable sets follow the OpenAPI "filterable" badges (restricted to the attributes modelled here), plus
`id`, `createdAt`, `updatedAt` and every to-one relationship by id, which Outreach accepts everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMMON_FILTERS = frozenset({"id", "createdAt", "updatedAt"})
READ_ONLY_COMMON = frozenset({"createdAt", "updatedAt"})


@dataclass(frozen=True)
class ResourceType:
    name: str
    plural: str
    attributes: dict[str, Any]  # attribute -> default value
    to_one: dict[str, str] = field(default_factory=dict)  # relationship -> target type
    # relationship -> (target type, the target's to-one relationship pointing back here)
    to_many: dict[str, tuple[str, str]] = field(default_factory=dict)
    filterable: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()  # webhook actions this resource emits

    def can_filter(self, attr: str) -> bool:
        return attr in self.filterable or attr in COMMON_FILTERS

    def is_timestamp(self, attr: str) -> bool:
        return attr.endswith("At") or attr == "disabledSince"


def _t(
    name: str,
    plural: str,
    attributes: dict[str, Any],
    *,
    to_one: dict[str, str] | None = None,
    to_many: dict[str, tuple[str, str]] | None = None,
    filterable: set[str] | None = None,
    read_only: set[str] | None = None,
    events: set[str] | None = None,
) -> ResourceType:
    attrs = {**attributes, "createdAt": None, "updatedAt": None}
    return ResourceType(
        name=name,
        plural=plural,
        attributes=attrs,
        to_one=to_one or {},
        to_many=to_many or {},
        filterable=frozenset(filterable or ()),
        read_only=frozenset(read_only or ()) | READ_ONLY_COMMON,
        events=frozenset(events or ()),
    )


_PHONES = ("homePhones", "mobilePhones", "workPhones", "otherPhones", "voipPhones")

TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in [
        _t(
            "user",
            "users",
            {"email": None, "firstName": None, "lastName": None, "name": None, "username": None, "locked": False},
            filterable={"email", "firstName", "lastName", "username", "locked"},
            events={"created", "updated"},
        ),
        _t(
            "mailbox",
            "mailboxes",
            {"email": None, "userId": None},
            to_one={"user": "user"},
            filterable={"email", "userId"},
        ),
        _t(
            "account",
            "accounts",
            {"name": None, "domain": None},
            to_one={"owner": "user"},
            to_many={"prospects": ("prospect", "account")},
            filterable={"name", "domain"},
            events={"created", "updated", "destroyed"},
        ),
        _t(
            "prospect",
            "prospects",
            {
                "firstName": None,
                "lastName": None,
                "title": None,
                "timeZone": None,
                "emails": [],
                **{p: [] for p in _PHONES},
                "callOptedOut": False,
                "callsOptStatus": None,
            },
            to_one={"account": "account", "owner": "user"},
            to_many={
                "phoneNumbers": ("phoneNumber", "prospect"),
                "sequenceStates": ("sequenceState", "prospect"),
            },
            filterable={"emails", "firstName", "lastName", "title", "timeZone"},
            events={"created", "updated", "destroyed"},
        ),
        _t(
            "phoneNumber",
            "phoneNumbers",
            {"number": None, "rawNumber": None, "phoneType": None, "extension": None, "order": 0},
            to_one={"prospect": "prospect"},
            filterable={"number", "order", "phoneType"},
        ),
        _t(
            "callDisposition",
            "callDispositions",
            {"name": None, "outcome": None, "order": 0, "defaultForOutboundVoicemail": False},
            to_one={"creator": "user"},
            filterable={"name", "order", "outcome"},
        ),
        _t("callPurpose", "callPurposes", {"name": None, "order": 0}, filterable={"name", "order"}),
        _t("opportunity", "opportunities", {"name": None}, filterable={"name"}),
        _t(
            "sequence",
            "sequences",
            {"name": None, "enabled": True},
            to_one={"owner": "user"},
            to_many={"sequenceSteps": ("sequenceStep", "sequence")},
            filterable={"name"},
        ),
        _t(
            "sequenceStep",
            "sequenceSteps",
            {"order": 0, "stepType": None, "displayName": None},
            to_one={"sequence": "sequence", "callPurpose": "callPurpose"},
            filterable={"order", "stepType"},
        ),
        _t(
            "sequenceState",
            "sequenceStates",
            {"state": None, "stateChangedAt": None},
            to_one={
                "prospect": "prospect",
                "sequence": "sequence",
                "sequenceStep": "sequenceStep",
                "mailbox": "mailbox",
                "account": "account",
                "user": "user",
            },
            filterable={"state", "stateChangedAt"},
            read_only={"stateChangedAt"},
            events={"created", "updated", "destroyed", "advanced", "finished"},
        ),
        _t(
            "task",
            "tasks",
            {
                "action": None,
                "taskType": None,
                "state": "incomplete",
                "dueAt": None,
                "note": None,
                "stateChangedAt": None,
                "completed": False,
                "completedAt": None,
            },
            to_one={
                "prospect": "prospect",
                "account": "account",
                "owner": "user",
                "sequence": "sequence",
                "sequenceState": "sequenceState",
                "sequenceStep": "sequenceStep",
                "callPurpose": "callPurpose",
                "completer": "user",
            },
            to_many={"calls": ("call", "task")},
            # `action` is deliberately not filterable, as in Outreach.
            filterable={"state", "dueAt", "taskType", "stateChangedAt"},
            read_only={"stateChangedAt", "completed", "completedAt"},
            events={"created", "updated", "destroyed", "completed"},
        ),
        _t(
            "call",
            "calls",
            {
                "direction": None,
                "outcome": None,
                "from": None,
                "to": None,
                "dialedAt": None,
                "answeredAt": None,
                "completedAt": None,
                "note": None,
                "externalVendor": None,
                "vendorCallId": None,
                "recordingUrl": None,
                "sequenceAction": None,
                "tags": [],
                "state": None,
                "uid": None,
            },
            to_one={
                "prospect": "prospect",
                "user": "user",
                "callDisposition": "callDisposition",
                "callPurpose": "callPurpose",
                "task": "task",
                "sequence": "sequence",
                "sequenceState": "sequenceState",
                "sequenceStep": "sequenceStep",
                "phoneNumber": "phoneNumber",
                "opportunity": "opportunity",
            },
            filterable={"to", "from", "outcome", "state", "recordingUrl"},
            read_only={"state", "uid"},
            events={"created", "updated", "destroyed"},
        ),
        _t(
            "webhook",
            "webhooks",
            {
                "url": None,
                "resource": "*",
                "action": "*",
                "secret": None,
                "active": True,
                "disabledReason": None,
                "disabledSince": None,
            },
            to_one={"authorizer": "user", "creator": "user", "updater": "user"},
            filterable={"action", "active", "resource"},
            read_only={"disabledReason", "disabledSince"},
        ),
    ]
}

BY_PLURAL: dict[str, ResourceType] = {t.plural: t for t in TYPES.values()}


def lookup(name: str) -> ResourceType | None:
    """Find a type by singular or plural name."""
    return TYPES.get(name) or BY_PLURAL.get(name)
