"""Hospitals and their API keys."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class Institution(SQLModel, table=True):
    __tablename__ = "institution"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=128, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    disabled_at: datetime | None = None


class ApiKey(SQLModel, table=True):
    """A hospital API key, stored as a lookup digest (to find the row) and an argon2 hash (to check it)."""

    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=32)
    lookup: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=255)
    prefix: str = Field(max_length=16)  # first characters, shown in listings to tell keys apart
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
