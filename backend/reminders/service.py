"""Follow-up reminders (issue 19 item 5): a report that advises a follow-up ("建议12个月后复查")
becomes a dated reminder on the person's timeline, a WeChat notice when it falls due, and is done
once a comparable study (same body part, same kind of imaging) arrives after it.

What a caller sees is derived from the report and the studies at read time, so a corrected report or
a late-arriving study changes it at once, under the access policy (``records.person_entries``: a
relative's scope, studies hidden from them, a share's studies). The daily due-notice job must not walk
every person's timeline, so the same derivation is also kept as rows (``models.FollowupReminder``),
rewritten for one person whenever an imaging entry of theirs changes (the records entry hook in
``backend/plugins.py``); the job selects only due, open, un-notified rows through the ``due`` index,
in bounded batches. The notice is deduplicated twice: the row's ``notified_at`` and the outbox's key
(one per study and account, ever).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend.access.service import PersonAccess, accounts_for_person
from backend.clock import cst_date, utcnow
from backend.db import session_scope, upsert
from backend.notify.service import notify_once
from backend.records import service as records
from backend.records.models import TimelineEntry
from backend.reminders.models import FollowupReminder
from backend.reminders.phrases import Advice, follow_up
from backend.studies import record_kind
from backend.studies import service as studies
from backend.studies.models import Study

KIND = record_kind.KIND
FOLLOWUP_DUE = "followup_due"
# A follow-up that fell due longer ago than this is not announced: the first run of the job must not
# wake everyone about advice from years past (the timeline still lists it).
NOTICE_WINDOW = timedelta(days=30)
BATCH = 500  # rows per transaction of the due-notice job


@dataclass(frozen=True, slots=True)
class Reminder:
    study_id: str
    title: str
    study_date: date
    due: date
    advice: Advice
    done_by: str | None  # the study that fulfilled it
    done_title: str | None


def _advice(session: Session, study: Study) -> Advice | None:
    report = record_kind.latest_report(session, study.id)
    if report is None:
        return None
    return follow_up(report.impression) or follow_up(report.findings)


def _reminders(session: Session, entries: list[TimelineEntry]) -> list[Reminder]:
    """entries: one person's imaging entries, newest first."""
    found = {s.id: s for s in session.exec(select(Study).where(col(Study.id).in_([e.ref_id for e in entries])))}
    out = []
    for i, entry in enumerate(entries):
        study = found.get(entry.ref_id)
        advice = _advice(session, study) if study else None
        if study is None or advice is None:
            continue
        key = studies.comparison_key(study)
        later = [e for e in entries[:i] if (s := found.get(e.ref_id)) is not None
                 and _matches(key, entry.title, s, e.title)]
        done = later[-1] if later else None  # the first comparable study after it
        day = cst_date(entry.occurred_at)
        out.append(Reminder(study_id=study.id, title=entry.title, study_date=day, due=day + timedelta(days=advice.days),
                            advice=advice, done_by=done.ref_id if done else None,
                            done_title=done.title if done else None))
    return out


def _matches(key: tuple[str | None, frozenset[str]], title: str, other: Study, other_title: str) -> bool:
    """A follow-up of the same kind of imaging of the same body part; without a body part on either
    side, of the same exam name (a shoulder MR is not followed up by a brain MR)."""
    body, mods = key
    other_body, other_mods = studies.comparison_key(other)
    same_part = body == other_body if body and other_body else title == other_title
    return bool(mods & other_mods) and same_part


def for_person(*, session: Session, access: PersonAccess) -> list[Reminder]:
    """The person's follow-ups as this caller may see them, soonest due first. Audited."""
    entries = records.person_entries(session=session, access=access, kind=KIND)
    found = sorted(_reminders(session, entries), key=lambda r: (r.done_by is not None, r.due))
    access.audit(session, event_type="reminders.read", object_type="person", object_id=access.person_id,
                 detail={"reminders": len(found)})
    return found


def refresh_person(*, session: Session, person_id: str) -> int:
    """Rewrite one person's reminder rows from their imaging entries (every study, whoever may read it:
    the notice job asks the access rules per account). Keeps ``notified_at``. Returns rows kept."""
    entries = list(session.exec(select(TimelineEntry).where(
        TimelineEntry.kind == KIND, TimelineEntry.person_id == person_id)
        .order_by(col(TimelineEntry.sort_key).desc())).all())
    found = _reminders(session, entries)
    now = utcnow()
    for r in found:
        values = {"study_id": r.study_id, "person_id": person_id, "due": r.due, "days": r.advice.days,
                  "phrase": r.advice.phrase[:64], "done_by": r.done_by, "updated_at": now}
        upsert(session, FollowupReminder, keys=["study_id"], values=values,
               update={k: v for k, v in values.items() if k != "study_id"})
    session.execute(sa.delete(FollowupReminder).where(
        col(FollowupReminder.person_id) == person_id,
        col(FollowupReminder.study_id).not_in([r.study_id for r in found])))
    return len(found)


def on_entries_changed(*, session: Session, kind: str | None, person_id: str) -> None:
    """records entry hook (backend/plugins.py): a study or its report appeared, moved or changed."""
    if kind in (None, KIND):
        refresh_person(session=session, person_id=person_id)


def rebuild(*, engine: Engine, batch: int = 200) -> int:
    """Rewrite every person's reminder rows (``yunying reminders rebuild``: once after the upgrade that
    added them; safe any time). One transaction per ``batch`` persons. Returns rows kept."""
    kept, after = 0, ""
    while True:
        with session_scope(engine) as session:
            people = session.exec(select(TimelineEntry.person_id).where(
                TimelineEntry.kind == KIND, col(TimelineEntry.person_id) > after)
                .distinct().order_by(col(TimelineEntry.person_id)).limit(batch)).all()
            for person_id in people:
                if person_id is not None:
                    kept += refresh_person(session=session, person_id=person_id)
        if len(people) < batch:
            return kept
        after = str(people[-1])


def send_due(*, engine: Engine, today: date | None = None, batch: int = BATCH) -> int:
    """Queue a WeChat notice for every open follow-up that fell due in the 30 days up to ``today`` (CST),
    to everyone who may read the study. Cron-able, daily; running it again adds nothing (the row's
    ``notified_at``, and the outbox key per study). Reads only due rows, ``batch`` per transaction.
    Returns notices added."""
    today = today or cst_date(utcnow())
    added = 0
    after: tuple[date, str] = (date.min, "")
    while True:
        with session_scope(engine) as session:
            rows = session.exec(select(FollowupReminder).where(
                col(FollowupReminder.due) > today - NOTICE_WINDOW, col(FollowupReminder.due) <= today,
                col(FollowupReminder.done_by).is_(None), col(FollowupReminder.notified_at).is_(None),
                sa.or_(col(FollowupReminder.due) > after[0],
                       sa.and_(col(FollowupReminder.due) == after[0], col(FollowupReminder.study_id) > after[1])))
                .order_by(col(FollowupReminder.due), col(FollowupReminder.study_id)).limit(batch)).all()
            for row in rows:
                for account_id, _relation in accounts_for_person(session=session, person_id=row.person_id,
                                                                 kind=KIND, ref_id=row.study_id):
                    added += notify_once(session, event_key=f"followup:{row.study_id}:due",
                                         account_id=account_id, person_id=row.person_id, kind=FOLLOWUP_DUE)
                row.notified_at = utcnow()
                session.add(row)
            last = (rows[-1].due, rows[-1].study_id) if rows else None
        if last is None or len(rows) < batch:
            return added
        after = last
