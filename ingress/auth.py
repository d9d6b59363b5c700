"""Who may call what: the Nooks app's bearer token, and HTTP Basic for operators. Constant-time compares."""

from __future__ import annotations

import base64
import hmac

from starlette.requests import Request

from schemas.settings import Settings


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


def operator_accounts(settings: Settings) -> list[tuple[str, str, bool]]:
    """(username, password, may act) for each configured operator."""
    found = []
    if settings.ops_username and settings.ops_password:
        found.append((settings.ops_username, settings.ops_password.get_secret_value(), True))
    if settings.ops_readonly_username and settings.ops_readonly_password:
        found.append((settings.ops_readonly_username, settings.ops_readonly_password.get_secret_value(), False))
    return found


def metrics_reader(request: Request, settings: Settings) -> bool:
    """`GET /metrics`: any operator (read-only ones too), or a scraper with METRICS_TOKEN as its bearer."""
    if settings.metrics_token is not None and bearer_ok(request, settings.metrics_token.get_secret_value()):
        return True
    return basic_user(request, operator_accounts(settings)) is not None
