"""The WeChat simulator's state. In the database (not process memory) so that a server with several
worker processes behaves like one WeChat: a code issued by one worker is exchanged at another."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class SimUser(SQLModel, table=True):
    __tablename__ = "sim_user"

    openid: str = Field(primary_key=True, max_length=128)
    nickname: str = Field(max_length=64)
    unionid: str | None = Field(default=None, max_length=128)
    listed: bool = False  # shown on the authorize page (demo users)
    template_errcode: int | None = None  # answer template sends to this user with this error (43101 …)
    # The identity WeChat holds for a real-name-verified (实名) user; set by tests and the demo seed only.
    realname_name: str | None = Field(default=None, max_length=64)
    realname_id_number: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class SimFaceVerify(SQLModel, table=True):
    """One face verification (人脸核身): what the user claimed and whether WeChat confirmed it."""

    __tablename__ = "sim_face_verify"

    verify_result: str = Field(primary_key=True, max_length=64)
    openid: str = Field(max_length=128)
    name: str = Field(max_length=64)
    id_number: str = Field(max_length=32)
    identify_ret: int
    created_at: datetime = Field(default_factory=utcnow)


class SimCode(SQLModel, table=True):
    """An OAuth code (single use, 5 minutes) and, once exchanged, the web access token it gave."""

    __tablename__ = "sim_code"

    code: str = Field(primary_key=True, max_length=64)
    openid: str = Field(max_length=128)
    appid: str = Field(max_length=64)
    scope: str = Field(max_length=32)
    snapshot: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None
    sns_token: str | None = Field(default=None, index=True, max_length=64)


class SimToken(SQLModel, table=True):
    """Server-side credentials the simulator issued (``access_token`` / ``jsapi_ticket``)."""

    __tablename__ = "sim_token"

    value: str = Field(primary_key=True, max_length=128)
    kind: str = Field(max_length=16, index=True)
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class SimInbox(SQLModel, table=True):
    """Everything 'delivered': template messages and SMS codes (the development SMS provider)."""

    __tablename__ = "sim_inbox"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    seq: int = Field(default=0, index=True)
    kind: str = Field(max_length=16)
    to: str = Field(max_length=128)
    at: datetime = Field(default_factory=utcnow)
    payload: str = Field(max_length=8000)  # JSON


class SimCounter(SQLModel, table=True):
    """Call counters (e.g. how many times stable_token was asked), for tests and diagnostics."""

    __tablename__ = "sim_counter"

    name: str = Field(primary_key=True, max_length=64)
    value: int = 0
