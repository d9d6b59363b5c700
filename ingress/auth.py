"""Who may call what: the Nooks app's bearer token, and HTTP Basic for operators. Constant-time compares."""

from __future__ import annotations

import base64
import hmac

from starlette.requests import Request


def bearer_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def basic_user(request: Request, accounts: list[tuple[str, str, bool]]) -> tuple[str, bool] | None:
    """HTTP Basic against (username, password, flag) accounts: the matching (username, flag), else None."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):  # binascii.Error, and non-ASCII text b64decode refuses
        return None
    found = None
    for username, password, flag in accounts:
        # Every compare always runs, so timing tells neither which account nor which half was wrong.
        user_ok = hmac.compare_digest(user.encode(), username.encode())
        secret_ok = hmac.compare_digest(secret.encode(), password.encode())
        if user_ok and secret_ok and found is None:
            found = (username, flag)
    return found
