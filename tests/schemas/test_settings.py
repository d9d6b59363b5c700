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


# --- Process and tuning variables (README "Configuration", docs/tuning.md) -------------------------------------

def from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    monkeypatch.setenv("NOOKS_EVENTS_SECRET", SECRETS["nooks_events_secret"])
    monkeypatch.setenv("NOOKS_API_TOKEN", SECRETS["nooks_api_token"])
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", KEY)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


TUNING = {"PORT": ("port", 8000), "HOST": ("host", "0.0.0.0"), "LOG_FORMAT": ("log_format", "text"),
          "OUTREACH_CONNECTIONS": ("outreach_connections", 800), "REDIS_MAX_CONNECTIONS": ("redis_max_connections", 64),
          "WORKER_MAX_JOBS": ("worker_max_jobs", 200), "WORKER_POLL_DELAY": ("worker_poll_delay", 0.02),
          "WORKER_QUEUE_READ_LIMIT": ("worker_queue_read_limit", 400), "WORKER_JOB_TIMEOUT": ("worker_job_timeout", 60),
          "WORKER_SHUTDOWN_WAIT": ("worker_shutdown_wait", 20), "WORKER_UVLOOP": ("worker_uvloop", True),
          "WORKER_GC_GEN0_THRESHOLD": ("worker_gc_gen0_threshold", 5_000)}


def test_every_variable_has_the_readme_default_also_when_set_but_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    unset, empty = from_env(monkeypatch), from_env(monkeypatch, **dict.fromkeys(TUNING, ""))
    for field, default in TUNING.values():
        assert getattr(unset, field) == getattr(empty, field) == default, field


def test_each_variable_is_read_under_its_documented_name(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, PORT="9001", HOST="127.0.0.1", LOG_FORMAT="json", OUTREACH_CONNECTIONS="10",
                        REDIS_MAX_CONNECTIONS="8", WORKER_MAX_JOBS="5", WORKER_POLL_DELAY="0.5",
                        WORKER_QUEUE_READ_LIMIT="50", WORKER_JOB_TIMEOUT="5", WORKER_SHUTDOWN_WAIT="2",
                        WORKER_UVLOOP="0", WORKER_GC_GEN0_THRESHOLD="700")
    assert (settings.port, settings.host, settings.log_as_json, settings.outreach_connections) == \
        (9001, "127.0.0.1", True, 10)
    assert (settings.redis_max_connections, settings.worker_max_jobs, settings.worker_poll_delay,
            settings.worker_queue_read_limit, settings.worker_job_timeout, settings.worker_shutdown_wait,
            settings.worker_uvloop, settings.worker_gc_gen0_threshold) == (8, 5, 0.5, 50, 5, 2, False, 700)
    assert settings.worker_job_budget == 3.75


@pytest.mark.parametrize(("name", "value"), [("PORT", "http"), ("WORKER_MAX_JOBS", "many"), ("WORKER_MAX_JOBS", "0"),
                                             ("WORKER_POLL_DELAY", "-1"), ("WORKER_UVLOOP", "maybe"),
                                             ("REDIS_MAX_CONNECTIONS", "1.5")])
def test_a_malformed_variable_stops_the_process_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                        value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        from_env(monkeypatch, **{name: value})
    line = describe_error(refused.value)
    assert line.startswith(f"configuration error: {name} ") and "\n" not in line
