"""The master patient index: persons and the hospital identifiers that link to them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
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


class PersonLink(SQLModel, table=True):
    """MPI link: a hospital's local patient ID (MRN, DICOM PatientID) → one person.

    Unique per ``(institution_id, local_patient_id)``: a hospital's MRN names one person forever; a
    registration that tries to point it at a different resident ID is a conflict, never a merge.
    """

    __tablename__ = "person_link"
    __table_args__ = (UniqueConstraint("institution_id", "local_patient_id", name="uq_person_link_local_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=32)
    local_patient_id: str = Field(max_length=64)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
