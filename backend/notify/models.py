"""The notification outbox: one row per (event, recipient), sent by the dispatcher."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id

PENDING, SENT, REFUSED, FAILED = "pending", "sent", "refused", "failed"
# Claimed by a sender that is talking to WeChat right now. A row still "sending" after SEND_LEASE had its
# sender die mid-send (notify/service.send_one): whether WeChat accepted it cannot be known.
SENDING = "sending"


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("event_key", "account_id", name="uq_notification_event_recipient"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    event_key: str = Field(max_length=128)  # e.g. "record:imaging_study:<id>"
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    person_id: str = Field(max_length=32)
    kind: str = Field(max_length=32)  # "new_record"
    status: str = Field(default=PENDING, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
