"""The transactional outbox: one row per job still to be handed to a runner.

A row is written in the same database transaction as the change that causes the job (ingest's index
transaction, a notification row), so a job exists if and only if its change committed. The relay
(relay.py) hands committed rows to a runner and deletes them; `generation` tells it whether the row
changed (more instances arrived) while it was being handed over.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class JobOutbox(SQLModel, table=True):
    __tablename__ = "job_outbox"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_job_outbox_kind_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=32)  # service.KINDS: prerender, notify, pdf, sweep
    key: str = Field(max_length=128)  # what the job is about: a series id, a notification id, …
    generation: int = 1  # bumped by every enqueue of the same (kind, key)
    due_at: datetime = Field(default_factory=utcnow, index=True)  # not handed over before (debounce, backoff)
    claimed_until: datetime | None = None  # a relay or an in-process runner holds it until then
    attempts: int = 0  # failed in-process runs (a broker outage does not count)
    created_at: datetime = Field(default_factory=utcnow)
