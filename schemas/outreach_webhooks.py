"""Outreach webhook deliveries, parsed leniently and reduced to ids and names before anything is stored.

Outreach's envelope is `{"data": {"type", "id", "attributes": {changed only}, "relationships": {...}},
"meta": {"eventName", "deliveredAt"}}`, but every part of it may be missing or odd: relationships shaped
`{"type": <relationship name>, "id": n}` (or JSON:API `{"data": {...}}`), without `type`, with null ids; bare
events with only `data.type` and `data.id`; `"attributes": {}`; payload version 2 with `beforeUpdate` in
`meta` or `data`; unknown resources and actions. Parsing never raises: whatever cannot be understood is left out.

The reduction keeps the event name, resource, id, related ids, the NAMES of changed attributes and a hash
standing for the change (see `change_key`); attribute values, `updatedAt` included, never leave this module.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.outreach_resources import FOLLOWED
from schemas.times import normalize_timestamp, parse_time

# What the service subscribes to, and what it does with each resource.
SUBSCRIBED_RESOURCES = ("task", "prospect", "sequenceState", "call", "user")
NOTIFY_RESOURCES = tuple(FOLLOWED)
USER_RESOURCE = "user"
USER_EVENTS = frozenset({"created", "updated"})

# The record's own timestamps change with everything; listing them as "changed" says nothing.
NOT_CHANGES = frozenset({"createdAt", "updatedAt"})
MAX_NAMES = 200
UNKNOWN_ACTION = "unknown"

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ParsedDelivery:
    """What a delivery says, minus values. `updated_at` and `delivered_at` are kept in memory only."""

    resource: str | None
    action: str
    resource_id: int | None
    related: dict[str, int | None] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    updated_at: str | None = None
    delivered_at: str | None = None

    @property
    def event(self) -> str:
        return f"{self.resource or 'unknown'}.{self.action}"


def as_id(value: Any) -> int | None:
    """Outreach ids are integers; accept a digit string too. Anything else (bools included) is no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:  # "²".isdigit()
        return int(value)
    return None


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and _NAME.match(value) else None


def _timestamp(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _related(relationships: Any) -> dict[str, int | None]:
    """`{"prospect": {"type": "prospect", "id": 3}}`, `{"owner": {"id": 1}}`, `{"x": {"data": {...}}}`,
    `{"x": 3}` or `{"x": null}` → {name: id or None}. To-many lists and unreadable entries are left out."""
    if not isinstance(relationships, dict):
        return {}
    related: dict[str, int | None] = {}
    for raw_name, value in relationships.items():
        name = _name(raw_name)
        if name is None or len(related) >= MAX_NAMES:
            continue
        if value is None:
            related[name] = None
        elif isinstance(value, dict):
            if "id" in value:
                related[name] = as_id(value["id"])
            elif "data" in value:
                inner = value["data"]
                if inner is None:
                    related[name] = None
                elif isinstance(inner, dict):
                    related[name] = as_id(inner.get("id"))
        elif (linked := as_id(value)) is not None:
            related[name] = linked
    return related


def _names(mapping: Any) -> list[str]:
    if not isinstance(mapping, dict):
        return []
    names = {name for raw in mapping if (name := _name(raw)) is not None and name not in NOT_CHANGES}
    return sorted(names)[:MAX_NAMES]


def _split_event(event_name: Any) -> tuple[str | None, str | None]:
    if not isinstance(event_name, str) or event_name.count(".") != 1:
        return None, None
    resource, action = event_name.split(".")
    return _name(resource), _name(action)


def parse_delivery(raw: Any) -> ParsedDelivery:
    """Never raises, whatever `raw` is (the JSON a delivery decoded to)."""
    body = raw if isinstance(raw, dict) else {}
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    assert isinstance(data, dict) and isinstance(meta, dict)
    event_resource, action = _split_event(meta.get("eventName"))
    resource = _name(data.get("type")) or event_resource
    attributes = data.get("attributes")
    before = meta.get("beforeUpdate", data.get("beforeUpdate"))
    # Version 2 may carry the whole record in `attributes`: what changed is what `beforeUpdate` names.
    changed = _names(before) if isinstance(before, dict) and before else _names(attributes)
    updated_at = _timestamp(attributes.get("updatedAt")) if isinstance(attributes, dict) else None
    return ParsedDelivery(
        resource=resource,
        action=action or UNKNOWN_ACTION,
        resource_id=as_id(data.get("id")),
        related=_related(data.get("relationships")),
        changed=changed,
        updated_at=updated_at,
        delivered_at=_timestamp(meta.get("deliveredAt")),
    )


# Outreach delivers at once and retries only a failed connection, moments later: an older `meta.deliveredAt`
# is a replay of a captured body (or a clock far off). What is refused is found by reconciliation.
MAX_DELIVERY_AGE_SECONDS = 3600
MAX_CLOCK_SKEW_SECONDS = 300


def is_stale(parsed: ParsedDelivery, now: float) -> bool:
    """True when `meta.deliveredAt` is unreadable, too old, or too far ahead. Deliveries without it (payloads
    that predate it) are judged by the body dedupe alone."""
    if parsed.delivered_at is None:
        return False
    moment = parse_time(parsed.delivered_at)
    delivered = moment.timestamp() if moment is not None else None
    return delivered is None or not now - MAX_DELIVERY_AGE_SECONDS <= delivered <= now + MAX_CLOCK_SKEW_SECONDS


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def change_key(team_id: str, resource: str, resource_id: int, updated_at: str) -> str:
    """One Outreach change: the same for a webhook delivery and for reconciliation reading the record."""
    return _digest("change", team_id, resource, str(resource_id), normalize_timestamp(updated_at))


def event_key(team_id: str, resource: str, resource_id: int, event: str, occurrence: str) -> str:
    """An event without `updatedAt` (task.completed, sequenceState.advanced, *.destroyed, ...): keyed by
    `meta.deliveredAt` when present (shared by every subscription a change is delivered to), else by the
    event id."""
    return _digest("event", team_id, resource, str(resource_id), event, occurrence)


class ReducedChange(BaseModel):
    """What an arq job carries: ids, names and hashes only. Built by ingress or by reconciliation."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: Literal["webhook", "reconciliation"] = "webhook"
    event_id: str
    event: str
    resource: str
    action: str
    resource_id: int | None = None
    related: dict[str, int | None] = Field(default_factory=dict)
    changed: list[str] = Field(default_factory=list)
    change_key: str | None = None
    team_id: str
    rep_email: str
    webhook_id: str | None = None
    received_at: int = 0  # epoch milliseconds


def reduce_delivery(parsed: ParsedDelivery, *, team_id: str, rep_email: str, webhook_id: str, event_id: str,
                    received_at: int) -> ReducedChange | None:
    """None when the delivery names no usable resource and id (nothing to act on)."""
    if parsed.resource is None or parsed.resource_id is None:
        return None
    if parsed.updated_at is not None:
        key = change_key(team_id, parsed.resource, parsed.resource_id, parsed.updated_at)
    else:
        key = event_key(team_id, parsed.resource, parsed.resource_id, parsed.event,
                        parsed.delivered_at or f"id:{event_id}")
    return ReducedChange(
        source="webhook", event_id=event_id, event=parsed.event, resource=parsed.resource,
        action=parsed.action, resource_id=parsed.resource_id, related=parsed.related, changed=parsed.changed,
        change_key=key, team_id=team_id, rep_email=rep_email, webhook_id=webhook_id, received_at=received_at,
    )


class NotificationData(BaseModel):
    team_id: str
    resource: str
    resource_id: int | None
    event: str
    rep_emails: list[str]
    changed: list[str]
    related: dict[str, int | None]


class Notification(BaseModel):
    """What the dialer receives (docs/outreach-webhooks.md)."""

    id: str
    type: str
    created_at: str
    data: NotificationData


def notification_id(change: ReducedChange) -> str:
    """Stable per Outreach change: retries, and reconciliation of the same change, reuse it."""
    key = change.change_key or _digest("event-id", change.team_id, change.event_id)
    return f"ntf_{key[:32]}"


def build_notification(change: ReducedChange, rep_emails: list[str]) -> Notification:
    moment = datetime.fromtimestamp(change.received_at / 1000, UTC)
    return Notification(
        id=notification_id(change),
        type=f"outreach.{change.event}",
        created_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        data=NotificationData(team_id=change.team_id, resource=change.resource, resource_id=change.resource_id,
                              event=change.event, rep_emails=rep_emails, changed=list(change.changed),
                              related=dict(change.related)),
    )
