"""The master patient index: persons and the hospital identifiers that link to them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class Person(SQLModel, table=True):
    """A patient. Resident ID and phone are stored only as AES-GCM ciphertext + HMAC blind index.

    ``phone_*`` is the *verified* phone: the one that receives identity codes (binding, guardianship,
    elder proxy). It changes only with proof (people/contacts.py); what a hospital registers is that
    hospital's own contact data, kept on its :class:`PersonLink`.
    """

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
    phone_source: str | None = Field(default=None, max_length=32)  # how the verified phone was proven
    phone_verified_at: datetime | None = None
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
    # This hospital's own contact phone for the person (never the verified phone by itself).
    phone_cipher: bytes | None = None
    phone_index: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


_PENDING = text("status = 'pending'")
PENDING, APPLIED, REJECTED, SUPERSEDED = "pending", "applied", "rejected", "superseded"


class PhoneChange(SQLModel, table=True):
    """A proposed new verified phone, waiting for proof (people/contacts.py says which proof counts).

    At most one pending proposal per (person, phone, proposer): a hospital re-sending its
    registration refreshes nothing and notifies nobody twice (unique partial index, an upsert).
    """

    __tablename__ = "person_phone_change"
    __table_args__ = (
        Index("uq_person_phone_change_pending", "person_id", "phone_index", "proposer", unique=True,
              sqlite_where=_PENDING, postgresql_where=_PENDING),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    phone_cipher: bytes
    phone_index: str = Field(max_length=64)
    phone_masked: str = Field(max_length=16)
    proposer: str = Field(max_length=48)  # "institution:<id>" or "account:<id>"
    institution_id: str | None = Field(default=None, foreign_key="institution.id", max_length=32)
    status: str = Field(default=PENDING, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    effective_at: datetime  # the end of the waiting period (counts only while nobody is bound)
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, max_length=48)
    decision: str | None = Field(default=None, max_length=32)  # how it was applied, or why it was not
