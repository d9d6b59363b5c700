"""A rep's Outreach connection and the team's User Mapping."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    NOT_CONNECTED = "not_connected"


class TokenSet(BaseModel):
    """OAuth tokens; only ever stored encrypted."""

    model_config = ConfigDict(frozen=True)

    access_token: str
    refresh_token: str
    expires_at: float  # epoch seconds
    scopes: list[str] = Field(default_factory=list)
    # When Outreach issued the refresh token (epoch seconds): it is honoured for OUTREACH_REFRESH_TOKEN_DAYS from
    # then, so the keep-alive renews it before half of that has passed. 0: stored before this was kept.
    issued_at: float = 0.0


class OAuthTokenResponse(BaseModel):
    """Outreach's `/oauth/token` answer (fixtures/oauth-token-response.json)."""

    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: int = 7200
    refresh_token: str | None = None
    scope: str = ""
    created_at: int | None = None


class OutreachUser(BaseModel):
    """The only Outreach record the service may keep: id, email, name."""

    model_config = ConfigDict(frozen=True)

    id: int
    email: str
    name: str


class ConnectionView(BaseModel):
    status: ConnectionStatus
    outreach_user_id: int | None
    scopes: list[str]
    parked_events: int


class UserMappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outreach_user_id: int = Field(gt=0)


class UserMappingEntry(BaseModel):
    rep_email: str
    outreach_user_id: int
    email: str | None = None
    name: str | None = None

