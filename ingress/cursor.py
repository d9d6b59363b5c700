"""Opaque, tamper-evident page cursors for the call-tasks listing.

A cursor is `base64url(JSON payload) "." base64url(HMAC-SHA256(payload))`, keyed by a key derived from a
server-only secret (`CURSOR_SECRET`, else the first `TOKEN_ENCRYPTION_KEYS` key): never from `NOOKS_API_TOKEN`,
which Nooks holds too and could then mint cursors with. The payload names the team, the rep and the mapped
Outreach user it was issued for, the `due_before` of the listing, and where the next page starts on Outreach's
side (its `links.next` URL, or none for the first page, plus the last task already returned from that page).
Clients must treat it as opaque; a cursor that was altered, or issued for another team, rep or user, is refused;
and so, as a second wall behind the signature, is one whose Outreach URL lost the rep's owner, state or due
filters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from outreach.call_tasks import Position, keeps_filters
from schemas.times import outreach_time, parse_time

VERSION = 1
MAX_CURSOR_CHARS = 4096
_KEY_LABEL = b"nooks-outreach/call-tasks-cursor/v1"


class BadCursor(Exception):
    """The cursor cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class CursorState:
    owner_id: int
    due_before: datetime
    position: Position
    sequence_id: int | None = None


def cursor_key(server_secret: str) -> bytes:
    return hmac.new(server_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def encode(key: bytes, team_id: str, rep_email: str, state: CursorState) -> str:
    payload: dict[str, Any] = {
        "v": VERSION, "t": team_id, "r": rep_email, "o": state.owner_id, "d": outreach_time(state.due_before),
        "u": state.position.url, "a": state.position.after_id, "ad": state.position.after_due,
        "s": state.sequence_id,
    }
    return sign(key, payload)


def sign(key: bytes, payload: dict[str, Any]) -> str:
    body = orjson.dumps(payload)
    return f"{_b64(body)}.{_b64(_mac(key, body))}"


def verify(key: bytes, team_id: str, rep_email: str, cursor: str) -> dict[str, Any]:
    """The payload of a cursor this service signed for this team and rep, else BadCursor."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor("cursor is not one this service issued")
    body_part, dot, mac_part = cursor.partition(".")
    if not dot:
        raise BadCursor("cursor is not one this service issued")
    try:
        body, mac = _unb64(body_part), _unb64(mac_part)
    except (binascii.Error, ValueError):
        raise BadCursor("cursor is not one this service issued") from None
    if not hmac.compare_digest(mac, _mac(key, body)):
        raise BadCursor("cursor is not one this service issued, or was altered")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadCursor("cursor is not one this service issued") from None
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        raise BadCursor("cursor is from another version of this service; start again without a cursor")
    if payload.get("t") != team_id or payload.get("r") != rep_email:
        raise BadCursor("cursor was issued for another team or rep")
    return payload


def decode(key: bytes, team_id: str, rep_email: str, cursor: str) -> CursorState:
    payload = verify(key, team_id, rep_email, cursor)
    owner, url, after_id, after_due = payload.get("o"), payload.get("u"), payload.get("a"), payload.get("ad")
    sequence_id = payload.get("s")
    due_before = parse_time(payload.get("d"))
    if (not isinstance(owner, int) or isinstance(owner, bool) or due_before is None
            or not (url is None or isinstance(url, str)) or not (after_id is None or _is_int(after_id))
            or not (after_due is None or isinstance(after_due, str))
            or not (sequence_id is None or _is_int(sequence_id))):
        raise BadCursor("cursor is not one this service issued")
    if url is not None and not keeps_filters(url, owner, due_before, sequence_id):
        raise BadCursor("cursor is not one this service issued")
    return CursorState(owner_id=owner, due_before=due_before,
                       position=Position(url=url, after_id=after_id, after_due=after_due), sequence_id=sequence_id)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("empty or non-ASCII")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
