"""The audit log: append-only, hash-chained (see audit.py), fields after DICOM PS3.15 A.5.

PS3.15 A.5.1 / A.5.3 (Audit Trail Message Format): EventIdentification (EventID, EventActionCode
C/R/U/D/E, EventDateTime, EventOutcomeIndicator 0/4/8/12), ActiveParticipant (the actor, its network
access point), ParticipantObjectIdentification (what was touched, whose data). We keep those as
columns, plus which grant or share the access went through.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True)  # 1, 2, 3 … without gaps: a removed row shows as a gap
    event_id: str = Field(max_length=32, unique=True)
    at: datetime
    action: str = Field(max_length=1)  # EventActionCode: C R U D E
    event_type: str = Field(max_length=64, index=True)  # e.g. "study.read", "binding.create"
    outcome: int = 0  # EventOutcomeIndicator: 0 success, 4 minor, 8 serious, 12 major failure
    actor_kind: str = Field(max_length=16)
    actor_id: str = Field(max_length=64)
    person_id: str | None = Field(default=None, max_length=32, index=True)  # whose data (acting for)
    via_grant_id: str | None = Field(default=None, max_length=32)
    via_share_id: str | None = Field(default=None, max_length=32)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=128)
    network_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=256)
    detail: str | None = Field(default=None, max_length=2000)  # small JSON, never PHI
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain's tip: a removed last row shows as a head that no row matches."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)


class AccessEpoch(SQLModel, table=True):
    """One counter that every change able to narrow someone's access bumps, by database triggers
    (migration 0012), so a cached access decision is checked with one indexed read (access/epoch.py)."""

    __tablename__ = "access_epoch"

    id: int = Field(default=1, primary_key=True)
    value: int = 0
