"""Tables of the previews work: the throttle of `series.view` audit events (pre-rendering jobs live in
the jobs outbox, backend/jobs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.ids import new_id


class SeriesView(SQLModel, table=True):
    """One row per (principal, series, UTC hour) that was audited as `series.view`. The unique key
    makes "audit once per hour" correct across processes: the loser of an insert race skips."""

    __tablename__ = "preview_series_view"
    __table_args__ = (UniqueConstraint("actor", "series_id", "hour", name="uq_series_view_actor_hour"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    actor: str = Field(max_length=80)  # principal kind:actor id
    series_id: str = Field(max_length=32, index=True)
    hour: datetime = Field(index=True)  # truncated to the hour (UTC)
