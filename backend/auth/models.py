"""WeChat accounts and their binding to a person (the account's "self")."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.ids import new_id, utcnow


class Account(SQLModel, table=True):
    """A WeChat user of the Official Account. Not a patient: see Binding."""

    __tablename__ = "account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    openid: str = Field(index=True, unique=True, max_length=128)
    unionid: str | None = Field(default=None, index=True, max_length=128)
    nickname: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class Binding(SQLModel, table=True):
    """The verified link account → person. One active binding per account and per person."""

    __tablename__ = "binding"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
