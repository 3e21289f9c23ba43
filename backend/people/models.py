"""The master patient index: persons and the hospital identifiers that link to them."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from backend.ids import new_id, utcnow


class Person(SQLModel, table=True):
    """A patient. Resident ID and phone are stored only as AES-GCM ciphertext + HMAC blind index."""

    __tablename__ = "person"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=64)
    sex: str | None = Field(default=None, max_length=1)  # "M" / "F" (GB/T 2261.1 mapped)
    birth_date: date | None = None
    resident_id_cipher: bytes | None = None
    resident_id_index: str | None = Field(default=None, index=True, unique=True, max_length=64)
    resident_id_last4: str | None = Field(default=None, max_length=4)
    resident_id_prefix: str | None = Field(default=None, max_length=4)
    phone_cipher: bytes | None = None
    phone_index: str | None = Field(default=None, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
