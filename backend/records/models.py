"""The timeline core's tables: one entry per record of any kind, and the revision history of what
hospitals sent.

The core knows nothing about a kind's own tables: an entry points at them through ``(kind, ref_id)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class TimelineEntry(SQLModel, table=True):
    """One record on a person's timeline.

    ``person_id`` stays NULL while the hospital's patient is not registered yet (the MPI links
    ``(institution_id, local_patient_id)`` later and the entry joins the timeline then: nothing is
    dropped). ``sort_key`` is ``occurred_at`` as fixed-width UTC digits followed by the entry id: one
    string that orders the timeline totally, so keyset ("cursor") pagination never repeats or skips
    an entry, and one B-tree index ``(person_id, sort_key)`` answers a page.
    """

    __tablename__ = "timeline_entry"
    __table_args__ = (
        sa.UniqueConstraint("kind", "ref_id", name="uq_timeline_entry_kind_ref"),
        sa.Index("ix_timeline_entry_person_sort", "person_id", "sort_key"),
        sa.Index("ix_timeline_entry_person_kind_sort", "person_id", "kind", "sort_key"),
        sa.Index("ix_timeline_entry_unmatched", "institution_id", "local_patient_id"),
        # Covers the per-kind/per-year counts (an index-only scan instead of 2,000 row lookups).
        sa.Index("ix_timeline_entry_person_kind_year", "person_id", "kind", "year"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    person_id: str | None = Field(default=None, foreign_key="person.id", max_length=32)
    kind: str = Field(max_length=32)
    ref_id: str = Field(max_length=64)
    occurred_at: datetime
    year: int  # calendar year in China Standard Time (UTC+8), for the per-year counts
    sort_key: str = Field(max_length=64)
    institution_id: str | None = Field(default=None, foreign_key="institution.id", max_length=32)
    local_patient_id: str | None = Field(default=None, max_length=64)
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    status: str | None = Field(default=None, max_length=32)
    # Space-delimited facets for filters, e.g. " CT MR " (modalities); LIKE '% CT %' matches one.
    tags: str = Field(default=" ", max_length=200)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RecordRevision(SQLModel, table=True):
    """Every distinct version a hospital sent for one record (report, lab panel, checkup …).

    A PUT with the same content (same SHA-256 of the canonical JSON) adds nothing; a changed one adds
    the next version, so amendments keep their history.
    """

    __tablename__ = "record_revision"
    __table_args__ = (sa.UniqueConstraint("kind", "ref_id", "version", name="uq_record_revision_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=32)
    ref_id: str = Field(max_length=64)
    version: int
    content_sha256: str = Field(max_length=64)
    status: str | None = Field(default=None, max_length=32)
    content: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
