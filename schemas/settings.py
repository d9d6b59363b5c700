"""Configuration, read only from the environment (a `.env` file may supply it in development)."""

from __future__ import annotations

import sys
from typing import Annotated

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_LENGTH = 16  # tokens and signing secrets: guessing stays out of reach
MIN_PASSWORD_LENGTH = 12
MIN_CURSOR_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Secrets are `SecretStr` (a repr, a log line or a dump shows `**********`), each with a minimum length."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    redis_url: str = "redis://localhost:6379/0"
    # With Sentinel (both set), the master is found through it and REDIS_URL is ignored.
    redis_sentinels: Annotated[list[tuple[str, int]], NoDecode] = Field(default_factory=list)
    redis_sentinel_master: str | None = None
    # The Sentinels' own password (`requirepass` on the Sentinels); REDIS_URL's credentials are the master's.
    redis_sentinel_password: SecretStr | None = None
    # With replicas: a 202 only once this many replicas hold the event (Redis WAIT), else a 503 to retry.
    redis_wait_replicas: int = Field(default=0, ge=0)
    redis_wait_timeout_ms: int = Field(default=500, ge=1)
    public_base_url: str = "http://localhost:8000"
    outreach_api_url: str = "https://api.outreach.io/api/v2"
    outreach_oauth_url: str = "https://api.outreach.io/oauth"
    outreach_client_id: str = ""
    outreach_client_secret: SecretStr = SecretStr("")
    nooks_events_secret: SecretStr = Field(min_length=MIN_SECRET_LENGTH)
    nooks_api_token: SecretStr = Field(min_length=MIN_SECRET_LENGTH)
    nooks_notify_url: str | None = None
    nooks_notify_secret: SecretStr | None = Field(default=None, min_length=MIN_SECRET_LENGTH)
    token_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(min_length=1)
    ops_username: str | None = None
    ops_password: SecretStr | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH)
    ops_readonly_username: str | None = None
    ops_readonly_password: SecretStr | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH)
    # A scraper's bearer token for GET /metrics (operators' Basic credentials work too).
    metrics_token: SecretStr | None = Field(default=None, min_length=MIN_SECRET_LENGTH)
    # Signs the call-tasks cursors. Server-only (never shared with Nooks, unlike NOOKS_API_TOKEN); unset, a key
    # is derived from the first TOKEN_ENCRYPTION_KEYS key (cursors then end with a key rotation, harmlessly).
    cursor_secret: SecretStr | None = Field(default=None, min_length=MIN_CURSOR_SECRET_LENGTH)
    # How long Outreach honours a refresh token (fractional allowed): every connected rep's tokens are renewed
    # before half of it has passed since they were issued (workers/token_keepalive.py).
    outreach_refresh_token_days: float = Field(default=14.0, gt=0)
    retention_days: int = Field(default=30, ge=1)  # dead letters, parked events and flags (README "Data kept")
    # Slow clients: a body must arrive within this many seconds (else 408); at most this many requests in
    # flight per web process (uvicorn answers 503 beyond).
    web_body_timeout: float = Field(default=10.0, gt=0)
    web_max_concurrency: int = Field(default=1000, ge=1)
    # The web process listens here (`python -m ingress`; platforms set PORT).
    port: int = Field(default=8000, ge=1, le=65535)
    host: str = "0.0.0.0"  # noqa: S104 (all interfaces: a container publishes its port from them)
    log_format: str = "text"  # "json": one JSON object per line; anything else: text

    # Tuning (docs/tuning.md). A variable set but empty means its default.
    # Concurrent sockets to Outreach per process (opened only as needed). A log_call job has up to 4 requests in
    # flight at once, so a pool much smaller than the jobs in flight queues them for a socket.
    outreach_connections: int = Field(default=800, ge=1)
    # More concurrent requests (web) or jobs (worker) than Redis connections wait for one (up to 5 s), not fail.
    redis_max_connections: int = Field(default=64, ge=1)
    # Jobs mostly wait on Outreach, so one process runs many at once.
    worker_max_jobs: int = Field(default=200, ge=1)
    # arq's default 0.5 s poll adds up to half a second to every call; a short poll costs a little CPU while idle.
    worker_poll_delay: float = Field(default=0.02, gt=0)
    worker_queue_read_limit: int = Field(default=400, ge=1)  # job ids read per poll (≥ WORKER_MAX_JOBS)
    # A job whose worker died is taken up again when its in-progress key expires: this + 10 s.
    worker_job_timeout: float = Field(default=60, gt=0)
    # SIGTERM: running jobs get this long to finish before they are handed back; with closing, the process is
    # gone well within the 30 s a deploy gives it (docs/faults.md).
    worker_shutdown_wait: int = Field(default=20, ge=0)
    worker_uvloop: bool = True  # the loop uvicorn already gives the web process; 0 = asyncio's own
    # With Python's default young generation (700) cyclic GC took a visible share of the worker's CPU; jobs'
    # garbage is nearly all freed by reference counting, so it may grow larger between passes, but not so large
    # that cyclic garbage piles up.
    worker_gc_gen0_threshold: int = Field(default=5_000, ge=1)

    @field_validator("port", "host", "log_format", "outreach_connections", "redis_max_connections",
                     "worker_max_jobs", "worker_poll_delay", "worker_queue_read_limit", "worker_job_timeout",
                     "worker_shutdown_wait", "worker_uvloop", "worker_gc_gen0_threshold", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object, info: ValidationInfo) -> object:
        """A tuning variable set but empty (`WORKER_MAX_JOBS=`) means its default, as it always has."""
        if isinstance(value, str) and not value.strip():
            return cls.model_fields[info.field_name or ""].default
        return value

    @field_validator("token_encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _split_sentinels(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        sentinels = []
        for part in (part.strip() for part in value.split(",")):
            host, _, port = part.rpartition(":")
            if not part:
                continue
            if not host or not port.isdigit():
                raise ValueError("must be host:port pairs separated by commas")
            sentinels.append((host.strip("[]"), int(port)))
        return sentinels

    @model_validator(mode="after")
    def _sentinel_needs_master(self) -> Settings:
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            missing = "REDIS_SENTINEL_MASTER" if self.redis_sentinels else "REDIS_SENTINELS"
            raise ValueError(f"{missing} must be set too (Sentinel needs both)")
        return self

    @field_validator("token_encryption_keys")
    @classmethod
    def _keys_are_fernet(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            Fernet(key.get_secret_value())  # raises ValueError with a clear message on a malformed key
        return keys

    @field_validator("public_base_url", "outreach_api_url", "outreach_oauth_url")
    @classmethod
    def _strip_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @property
    def worker_job_budget(self) -> float:
        """Our own deadline inside a job, below arq's, so a slow Outreach becomes a retry and never a lost job."""
        return self.worker_job_timeout * 0.75

    @property
    def log_as_json(self) -> bool:
        return self.log_format.strip().lower() == "json"

    @property
    def cursor_signing_secret(self) -> str:
        return (self.cursor_secret or self.token_encryption_keys[0]).get_secret_value()

    @property
    def encryption_keys(self) -> list[str]:
        return [key.get_secret_value() for key in self.token_encryption_keys]

    @property
    def oauth_redirect_uri(self) -> str:
        return f"{self.public_base_url}/v1/outreach/oauth/callback"

    @property
    def webhook_target_url(self) -> str:
        return f"{self.public_base_url}/v1/outreach/webhooks"

    @property
    def notifications_enabled(self) -> bool:
        return bool(self.nooks_notify_url and self.nooks_notify_secret)

    @property
    def ops_enabled(self) -> bool:
        return bool(self.ops_username and self.ops_password)


def describe_error(error: ValidationError) -> str:
    """One line naming each bad variable, as operators read it in a crash log."""
    parts = []
    for item in error.errors():
        problem = "is required but not set" if item["type"] == "missing" else item["msg"].removeprefix("Value error, ")
        parts.append(f"{str(item['loc'][0]).upper()} {problem}" if item["loc"] else problem)
    return "configuration error: " + "; ".join(parts)


def load_settings() -> Settings:
    """Settings for a process entry point: exit with one clear line instead of a traceback."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SystemExit(2) from None
