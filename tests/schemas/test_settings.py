"""Secrets in the configuration: never shown by a repr, a log line or a dump, and refused when too short."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from schemas.settings import Settings, describe_error

KEY = Fernet.generate_key().decode()
SECRETS = {
    "nooks_events_secret": "whsec_c2VjcmV0LWV2ZW50cy1zaWduaW5nLWtleQ==",
    "nooks_api_token": "api-token-0123456789abcdef",
    "nooks_notify_secret": "whsec_bm90aWZ5LXNpZ25pbmcta2V5LTEyMzQ=",
    "outreach_client_secret": "client-secret-0123456789",
    "ops_password": "ops-password-0123",
    "cursor_secret": "cursor-secret-0123456789abcdef0123456789",
}


def make(**changes: Any) -> Settings:
    return Settings(**{**SECRETS, "token_encryption_keys": KEY, "ops_username": "ops", **changes,
                       "_env_file": None})


def test_no_secret_shows_in_a_repr_a_log_line_or_a_dump(caplog: pytest.LogCaptureFixture) -> None:
    settings = make()
    caplog.set_level(logging.INFO)
    logging.getLogger("test").info("settings: %s %r", settings, settings)
    shown = " ".join([repr(settings), str(settings), settings.model_dump_json(), caplog.text])
    for value in [*SECRETS.values(), KEY]:
        assert value not in shown
    # ... and every one is still there for the code that needs it.
    assert settings.nooks_api_token.get_secret_value() == SECRETS["nooks_api_token"]
    assert settings.encryption_keys == [KEY]


@pytest.mark.parametrize(("name", "short"), [
    ("nooks_api_token", "x" * 15), ("nooks_events_secret", "whsec_abc"), ("ops_password", "hunter2"),
    ("nooks_notify_secret", "whsec_x"), ("cursor_secret", "c" * 31),
])
def test_short_secrets_stop_the_process_with_one_line_naming_them(name: str, short: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make(**{name: short})
    line = describe_error(refused.value)
    assert name.upper() in line and short not in line


# --- Redis Sentinel --------------------------------------------------------------------------------------------

def test_sentinels_are_host_port_pairs() -> None:
    settings = make(redis_sentinels="10.0.0.1:26379, sentinel-b:26380,[::1]:26381", redis_sentinel_master="nooks")
    assert settings.redis_sentinels == [("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381)]
    assert settings.redis_sentinel_master == "nooks"


def test_without_sentinels_redis_url_is_used() -> None:
    assert make().redis_sentinels == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"redis_sentinels": "a:1"}, "configuration error: REDIS_SENTINEL_MASTER must be set too (Sentinel needs both)"),
    ({"redis_sentinel_master": "m"}, "configuration error: REDIS_SENTINELS must be set too (Sentinel needs both)"),
    ({"redis_sentinels": "a", "redis_sentinel_master": "m"},
     "configuration error: REDIS_SENTINELS must be host:port pairs separated by commas"),
])
def test_a_half_or_malformed_sentinel_setting_is_one_clear_line(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make(**changes)
    assert describe_error(refused.value) == message
