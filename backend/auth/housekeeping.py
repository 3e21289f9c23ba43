"""Pruning of short-lived rows the database fallback accumulates: expired leases and "once" markers,
old rate-limit events, spent binding codes, WeChat's de-duplication keys. Run now and then by the
notification worker thread; every statement is a bounded DELETE by time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import col

from backend.auth.models import BindingOtp, Lease, RateEvent
from backend.clock import utcnow
from backend.db import session_scope
from backend.wechat.models import InboundMessage

KEEP = timedelta(days=1)  # longer than any rate window (1 h), code life (10 min) or WeChat retry (15 s)


def prune(*, engine: Engine, now: datetime | None = None) -> int:
    now = now or utcnow()
    removed = 0
    with session_scope(engine) as session:
        for statement in (
            delete(Lease).where(col(Lease.expires_at) < now),
            delete(RateEvent).where(col(RateEvent.at) < now - KEEP),
            delete(BindingOtp).where(col(BindingOtp.expires_at) < now - KEEP),
            delete(InboundMessage).where(col(InboundMessage.received_at) < now - KEEP),
        ):
            result = session.execute(statement)
            removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed
