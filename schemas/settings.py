"""Configuration, read only from the environment (a `.env` file may supply it in development)."""

from __future__ import annotations

import sys
from typing import Annotated

from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    redis_url: str = "redis://localhost:6379/0"
    public_base_url: str = "http://localhost:8000"
    outreach_api_url: str = "https://api.outreach.io/api/v2"
    outreach_oauth_url: str = "https://api.outreach.io/oauth"
    outreach_client_id: str = ""
    outreach_client_secret: str = ""
    nooks_events_secret: str = Field(min_length=1)
    nooks_api_token: str = Field(min_length=1)
    nooks_notify_url: str | None = None
    nooks_notify_secret: str | None = None
    token_encryption_keys: Annotated[list[str], NoDecode] = Field(min_length=1)
    ops_username: str | None = None
    ops_password: str | None = None
    ops_readonly_username: str | None = None
    ops_readonly_password: str | None = None

    @field_validator("token_encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("token_encryption_keys")
    @classmethod
    def _keys_are_fernet(cls, keys: list[str]) -> list[str]:
        for key in keys:
            Fernet(key)  # raises ValueError with a clear message on a malformed key
        return keys

    @field_validator("public_base_url", "outreach_api_url", "outreach_oauth_url")
    @classmethod
    def _strip_slash(cls, url: str) -> str:
        return url.rstrip("/")

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
        name = str(item["loc"][0]).upper() if item["loc"] else "configuration"
        problem = "is required but not set" if item["type"] == "missing" else item["msg"]
        parts.append(f"{name} {problem}")
    return "configuration error: " + "; ".join(parts)


def load_settings() -> Settings:
    """Settings for a process entry point: exit with one clear line instead of a traceback."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SystemExit(2) from None
