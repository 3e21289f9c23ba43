"""`series.view` audit events, at most one per (principal, series) per UTC hour.

Why not one event per preview: scrolling a 300-slice CT fetches hundreds of previews in a minute;
an audit event each would bury the access log (the patient's "who looked at my records" page) in
noise and cost a write transaction per image. The question the log answers is "who looked at which
series, when", and an hour's resolution answers it. The study detail itself is still audited on
every read (`study.read`), and a DICOMweb retrieval of originals is audited per request.

How: a row in `preview_series_view` with a unique key (actor, series, hour) is inserted in the same
transaction as the audit event; the loser of a race between processes hits the unique key, rolls
back, and writes nothing. An in-process memo skips the database entirely for repeat requests, so a
cache hit costs no write at all after the first preview of the hour.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.access.principals import Principal
from backend.access.service import PersonAccess
from backend.clock import utcnow
from backend.db import session_scope

from .models import SeriesView

EVENT = "series.view"
_MEMO_MAX = 50_000
_memo: dict[tuple[str, str], datetime] = {}
_lock = threading.Lock()


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def actor_key(principal: Principal) -> str:
    return f"{principal.kind}:{principal.actor_id}"[:80]


def record_once(*, engine: Engine, principal: Principal, series_id: str, write: Callable[[Session], None],
                now: datetime | None = None) -> bool:
    """Call `write(session)` (which queues the audit event) unless this hour's view is recorded.
    Returns True when an event was written."""
    hour = _hour(now or utcnow())
    memo_key = (actor_key(principal), series_id)
    with _lock:
        if _memo.get(memo_key) == hour:
            return False
    try:
        with session_scope(engine) as session:
            seen = session.exec(select(SeriesView.id).where(
                col(SeriesView.actor) == memo_key[0], col(SeriesView.series_id) == series_id,
                col(SeriesView.hour) == hour)).first()
            if seen is None:
                session.add(SeriesView(actor=memo_key[0], series_id=series_id, hour=hour))
                session.flush()
                write(session)
    except IntegrityError:
        seen = "another process"
    with _lock:
        if len(_memo) > _MEMO_MAX:
            _memo.clear()
        _memo[memo_key] = hour
    return seen is None


def record_view(*, engine: Engine, access: PersonAccess, series_id: str, study_id: str) -> bool:
    """The `series.view` audit event of a preview or scrub read, once per principal, series and hour."""
    return record_once(
        engine=engine, principal=access.principal, series_id=series_id,
        write=lambda session: access.audit(session, event_type=EVENT, object_type="imaging_series",
                                           object_id=series_id, detail={"study_id": study_id}),
    )


def recorded(*, principal: Principal, series_id: str, now: datetime | None = None) -> bool:
    """This hour's view is known to be recorded (in-process memo only: False means "ask record_once")."""
    hour = _hour(now or utcnow())
    with _lock:
        return _memo.get((actor_key(principal), series_id)) == hour


def forget() -> None:
    """Tests: drop the in-process memo."""
    with _lock:
        _memo.clear()
