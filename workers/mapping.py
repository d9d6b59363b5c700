"""Pure mapping of a Nooks call onto an Outreach `call` resource (README "What happens to a call")."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.events import CallData

EXTERNAL_VENDOR = "Nooks"


@dataclass(frozen=True)
class Links:
    """The Outreach ids a call is attached to, resolved just in time."""

    prospect_id: int
    user_id: int
    disposition_id: int | None = None
    task_id: int | None = None
    sequence_id: int | None = None
    sequence_state_id: int | None = None
    sequence_step_id: int | None = None


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def call_attributes(call: CallData) -> dict[str, Any]:
    answered = call.answered_at is not None
    completed = call.ended_at
    attributes: dict[str, Any] = {
        "direction": call.direction,
        "outcome": "Answered" if answered else "Not Answered",
        "to": call.to,
        "dialedAt": utc(call.started_at),
        "completedAt": utc(completed),
        "externalVendor": EXTERNAL_VENDOR,
        "vendorCallId": call.call_id,
    }
    if call.from_:
        attributes["from"] = call.from_
    if call.answered_at is not None:
        attributes["answeredAt"] = utc(call.answered_at)
    if call.notes:
        attributes["note"] = call.notes
    if call.recording_url:
        attributes["recordingUrl"] = call.recording_url
    return attributes


def call_relationships(links: Links) -> dict[str, dict[str, Any]]:
    pairs = {
        "prospect": ("prospect", links.prospect_id),
        "user": ("user", links.user_id),
        "callDisposition": ("callDisposition", links.disposition_id),
        "task": ("task", links.task_id),
        "sequence": ("sequence", links.sequence_id),
        "sequenceState": ("sequenceState", links.sequence_state_id),
        "sequenceStep": ("sequenceStep", links.sequence_step_id),
    }
    return {name: {"data": {"type": kind, "id": rid}} for name, (kind, rid) in pairs.items() if rid is not None}


def dialed_number(call: CallData) -> str | None:
    """The prospect's side of the call: whom we dialed, or who dialed us."""
    return call.to if call.direction == "outbound" else call.from_


def e164(number: str) -> str:
    """Normalise a dialed number to E.164 before looking it up (Outreach matches exactly).

    Ten bare digits are taken as a North American number, the dialer's home market.
    """
    stripped = number.strip()
    # Decimal digits of any script count, as ASCII; "²" and other `isdigit` characters that are no digit do not.
    digits = "".join(str(unicodedata.decimal(ch)) for ch in stripped if unicodedata.decimal(ch, None) is not None)
    if stripped.startswith("+"):
        return "+" + digits
    if stripped.startswith("00"):
        return "+" + digits[2:]
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return "+" + digits if digits else stripped
