"""WeChat accounts and their binding to a person (the account's "self")."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class Account(SQLModel, table=True):
    """A WeChat user of the Official Account. Not a patient: see Binding."""

    __tablename__ = "account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    openid: str = Field(index=True, unique=True, max_length=128)
    unionid: str | None = Field(default=None, index=True, max_length=128)
    nickname: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # Follows the Official Account (subscribe/unsubscribe events).
    subscribed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    subscribed_changed_at: datetime | None = None


class Binding(SQLModel, table=True):
    """The verified link account → person. One active binding per account and per person."""

    __tablename__ = "binding"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class AuthSession(SQLModel, table=True):
    """A browser login. Every request checks this row, so logout and revocation act at once
    (the JWT alone would stay valid until it expires)."""

    __tablename__ = "auth_session"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime  # absolute end: refresh cannot extend past it
    revoked_at: datetime | None = None
    revoked_reason: str | None = Field(default=None, max_length=32)  # logout / reuse / admin …


class RefreshToken(SQLModel, table=True):
    """One refresh token of a session (stored as its SHA-256 digest). Rotated on every use; a used
    token presented again means it was stolen: the whole session is revoked (reuse detection)."""

    __tablename__ = "refresh_token"

    digest: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(foreign_key="auth_session.id", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None


class BindingOtp(SQLModel, table=True):
    """A one-time code sent for identity binding. ``target_index`` is the blind index of the resident
    ID asked about, whether or not a person has it (so rate limits do not reveal existence)."""

    __tablename__ = "binding_otp"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    target_index: str = Field(index=True, max_length=64)
    person_id: str | None = Field(default=None, max_length=32)  # None: nobody matched, no SMS sent
    code_hash: str = Field(max_length=256)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    attempts: int = 0
    consumed_at: datetime | None = None


class Consent(SQLModel, table=True):
    """Separate consent to process health data (PIPL art. 28-29), with its withdrawal."""

    __tablename__ = "consent"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    policy_version: str = Field(max_length=32)
    purpose: str = Field(max_length=64)
    granted_at: datetime = Field(default_factory=utcnow)
    withdrawn_at: datetime | None = None


class RateEvent(SQLModel, table=True):
    """One counted action for a rate limit (the database fallback when Redis is not configured)."""

    __tablename__ = "rate_event"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    key: str = Field(index=True, max_length=128)
    at: datetime = Field(default_factory=utcnow, index=True)


class SharedValue(SQLModel, table=True):
    """A value every worker shares (the WeChat access token, the jsapi ticket …) when Redis is not
    configured; see shared_state.py."""

    __tablename__ = "shared_value"

    name: str = Field(primary_key=True, max_length=128)
    value: str = Field(max_length=2048)
    expires_at: datetime


class Lease(SQLModel, table=True):
    """A named lock with an expiry (Redis SET NX PX when configured). Also marks things done once:
    an OAuth code exchanged, a message handled."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=160)
    holder: str = Field(max_length=32)
    expires_at: datetime = Field(index=True)
