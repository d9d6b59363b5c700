"""The Outreach resources the service follows, described once: how each is named in a URL, and which of its
relationships a notification to the dialer names by id. Webhook deliveries, their fill-in read and
reconciliation all read this table, so a change's notification does not depend on the path it came by.

Relationship names are those of Outreach's OpenAPI document (`sandbox/spec/outreach-openapi.json`:
`taskRelationships`, `prospectRelationships`, `sequenceStateRelationships`, `callRelationships`);
tests/schemas/test_outreach_resources.py checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.outreach import Resource


@dataclass(frozen=True)
class Followed:
    plural: str  # the collection's path, e.g. /sequenceStates
    related: tuple[str, ...]  # to-one relationships a notification names by id


FOLLOWED: dict[str, Followed] = {
    "task": Followed("tasks", ("prospect", "account", "owner", "sequence", "sequenceState", "sequenceStep")),
    "prospect": Followed("prospects", ("account", "owner")),
    "sequenceState": Followed("sequenceStates", ("prospect", "account", "sequence", "sequenceStep", "mailbox")),
    "call": Followed("calls", ("prospect", "user", "task", "sequence", "sequenceState", "sequenceStep",
                               "callDisposition")),
}


def related_ids(resource: str, record: Resource) -> dict[str, int | None]:
    """The record's followed relationships, by id; one Outreach returned as empty is kept (None)."""
    wanted = FOLLOWED[resource].related if resource in FOLLOWED else ()
    return {name: record.related_id(name) for name in wanted if name in record.relationships}
