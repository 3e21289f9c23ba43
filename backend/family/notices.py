"""What the person is told about family access, through the notification outbox (backend/notify):
a notice when a grant starts or is requested, an SMS to an elder's phone, and a daily digest of the
views relatives made (batched: at most one per person per day, by construction of the outbox's
unique (event_key, account) pair).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.models import AuditEvent
from backend.auth.models import Binding
from backend.auth.sms import SmsSender
from backend.clock import CST
from backend.db import session_scope
from backend.family import rules
from backend.family.models import LIVE_STATUSES, Grant
from backend.notify.service import notify_once

GRANT_STARTED, GRANT_REQUEST, PROXY_DIGEST = "grant_started", "grant_request", "proxy_digest"
GRANT_ENDED = "grant_ended"


def _person_accounts(session: Session, person_id: str) -> list[str]:
    return list(session.exec(select(Binding.account_id).where(
        Binding.person_id == person_id, col(Binding.revoked_at).is_(None))).all())


def _enqueue(session: Session, *, person_id: str, event_key: str, kind: str) -> int:
    """One notice per (event, account): an upsert on the outbox's unique key, so running twice (or twice at
    once) adds nothing."""
    added = 0
    for account_id in _person_accounts(session, person_id):
        added += notify_once(session, event_key=event_key, account_id=account_id, person_id=person_id, kind=kind)
    return added


def grant_started(session: Session, *, grant: Grant) -> None:
    _enqueue(session, person_id=grant.grantor_person_id, event_key=f"grant:{grant.id}:started", kind=GRANT_STARTED)


def grant_requested(session: Session, *, grant: Grant) -> None:
    _enqueue(session, person_id=grant.grantor_person_id, event_key=f"grant:{grant.id}:requested",
             kind=GRANT_REQUEST)


def grant_ended(session: Session, *, grant: Grant) -> None:
    """The relative is told at once that the person stopped sharing (issue 19 item 1): without it their next
    tap just fails. One notice per grant (the outbox key), to the relative's account only."""
    notify_once(session, event_key=f"grant:{grant.id}:ended", account_id=grant.grantee_account_id,
                person_id=grant.grantor_person_id, kind=GRANT_ENDED)


EXPIRY_NOTICE_WINDOW = timedelta(days=7)  # grants that ended by time longer ago are not announced any more


def expired_grants(session: Session, *, now: datetime) -> int:
    """A grant that ends by its own time (``expires_at``) is told to the relative like a revoked one
    (issue 19 item 1). Run by the jobs' periodic work every few minutes; one notice per grant (the outbox
    key), and only for grants that ended within EXPIRY_NOTICE_WINDOW, so a first run after an upgrade
    does not announce years-old endings. Returns notices added."""
    rows = session.exec(select(Grant).where(
        col(Grant.status).in_(LIVE_STATUSES), col(Grant.expires_at).is_not(None),
        col(Grant.expires_at) <= now, col(Grant.expires_at) > now - EXPIRY_NOTICE_WINDOW)).all()
    added = 0
    for grant in rows:
        added += notify_once(session, event_key=f"grant:{grant.id}:ended", account_id=grant.grantee_account_id,
                             person_id=grant.grantor_person_id, kind=GRANT_ENDED)
    return added


def elder_sms(session: Session, *, sms: SmsSender, phone: str, grant: Grant) -> None:
    label = rules.relationship_label(grant.relationship)[0]
    text = (f"【云影】您的家人（{label}）已开通代您查看健康档案的权限。"
            "如非您本人同意，请告知家人在云影中撤销，或联系就诊医院。")
    sms.send(session=session, phone=phone, text=text, code="")


def cst_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=CST)
    return start, start + timedelta(days=1)


def proxy_views(session: Session, *, day: date) -> dict[str, int]:
    """person_id → how many reads relatives made through grants on ``day`` (China Standard Time)."""
    start, end = cst_day_bounds(day)
    rows = session.exec(
        select(AuditEvent.person_id, func.count())
        .where(AuditEvent.action == audit.READ, col(AuditEvent.via_grant_id).is_not(None),
               col(AuditEvent.at) >= start, col(AuditEvent.at) < end, col(AuditEvent.person_id).is_not(None))
        .group_by(col(AuditEvent.person_id))
    ).all()
    return {person_id: int(count) for person_id, count in rows if person_id}


def send_daily_digest(*, engine: Engine, day: date | None = None) -> int:
    """Enqueue yesterday's (or ``day``'s) digest for every person a relative viewed. Running it twice
    for a day adds nothing: the outbox key is ``digest:<day>`` per account. Returns notices added."""
    day = day or rules.today_cst() - timedelta(days=1)
    added = 0
    with session_scope(engine) as session:
        for person_id in proxy_views(session, day=day):
            added += _enqueue(session, person_id=person_id, event_key=f"digest:{day.isoformat()}",
                              kind=PROXY_DIGEST)
    return added
