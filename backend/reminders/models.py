"""Follow-up reminders as rows (issue 19 item 5, second round): the daily notice job reads only the
reminders that fell due, through an index on ``due``, instead of walking every person's timeline.

One row per study whose report advises a follow-up. The row is derived data: ``service.refresh_person``
rewrites a person's rows from their reports and studies whenever an imaging entry of the timeline
changes (``records`` entry hooks, listed in ``backend/plugins.py``), and ``yunying reminders rebuild``
rewrites all of them (after the upgrade that added the table). What a reader sees is still derived
under the access policy at read time (``service.for_person``); the rows serve the job.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class FollowupReminder(SQLModel, table=True):
    __tablename__ = "followup_reminder"
    __table_args__ = (
        # The job's query: due in a window, not done, not yet notified, in due order (bounded batches).
        sa.Index("ix_followup_reminder_due", "due", "study_id"),
    )

    study_id: str = Field(primary_key=True, foreign_key="imaging_study.id", max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    due: date
    days: int  # after the study, as the report advised
    phrase: str = Field(max_length=64)  # the report's own words
    done_by: str | None = Field(default=None, max_length=32)  # the comparable later study: cancelled
    notified_at: datetime | None = None  # the due notice was queued (at most once per reminder)
    updated_at: datetime = Field(default_factory=utcnow)
