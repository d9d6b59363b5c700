"""Validation of `POST /calls` attributes, which Outreach checks strictly (no `duration`, length limits)."""

from __future__ import annotations

import uuid
from typing import Any

from . import timeutil
from .jsonapi import validation

_LENGTHS = {"note": 65535, "vendorCallId": 63, "recordingUrl": 255, "externalVendor": 255, "from": 255, "to": 255}
_CHOICES = {"direction": ("inbound", "outbound"), "outcome": ("Answered", "Not Answered")}
_TIMES = ("dialedAt", "answeredAt", "completedAt")


def validate(attrs: dict[str, Any]) -> None:
    for name, value in attrs.items():
        if value is None:
            continue
        pointer = f"/data/attributes/{name}"
        if name == "tags":
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise validation("tags must be a list of strings.", pointer)
            continue
        if not isinstance(value, str):
            raise validation(f"{name} must be a string.", pointer)
        if name in _CHOICES and value not in _CHOICES[name]:
            raise validation(f"{name} must be one of {', '.join(_CHOICES[name])}.", pointer)
        if name in _LENGTHS and len(value) > _LENGTHS[name]:
            raise validation(f"{name} is too long (maximum is {_LENGTHS[name]} characters).", pointer)
        if name in _TIMES:
            try:
                timeutil.parse(value)
            except ValueError:
                raise validation(f"{name} must be an ISO 8601 timestamp.", pointer) from None
        if name == "recordingUrl" and not value.startswith(("http://", "https://")):
            raise validation("recordingUrl must be an http or https URL.", pointer)


def read_only_values(attrs: dict[str, Any]) -> dict[str, Any]:
    return {"state": "completed" if attrs.get("completedAt") else "in_progress", "uid": uuid.uuid4().hex}
