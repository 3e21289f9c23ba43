"""Tables of the previews work: the pre-render queue and the throttle of `series.view` audit events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class PreviewPending(SQLModel, table=True):
    """A series whose previews still have to be pre-rendered. Survives restarts: the dispatcher of
    any web process picks rows up (claim with a lease), and deletes a row only when the render it
    did covers the newest `generation` (ingest bumps it when more instances arrive)."""

    __tablename__ = "preview_pending"

    series_id: str = Field(primary_key=True, foreign_key="imaging_series.id", max_length=32)
    generation: int = 1
    enqueued_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_until: datetime | None = None
    attempts: int = 0


class SeriesView(SQLModel, table=True):
    """One row per (principal, series, UTC hour) that was audited as `series.view`. The unique key
    makes "audit once per hour" correct across processes: the loser of an insert race skips."""

    __tablename__ = "preview_series_view"
    __table_args__ = (UniqueConstraint("actor", "series_id", "hour", name="uq_series_view_actor_hour"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    actor: str = Field(max_length=80)  # principal kind:actor id
    series_id: str = Field(max_length=32, index=True)
    hour: datetime = Field(index=True)  # truncated to the hour (UTC)
