"""Follow-up reminders (issue 19 item 5): a report that advises a follow-up ("建议12个月后复查")
becomes a dated reminder on the person's timeline, a WeChat notice when it falls due, and is done
once a comparable study (same body part, same kind of imaging) arrives after it.

Nothing is stored: a reminder is derived from the report and the studies each time, so a corrected
report or a late-arriving study changes it at once, and what a caller sees follows the access policy
(``records.person_entries``: a relative's scope, studies hidden from them, a share's studies). The due
notice is deduplicated by the outbox's key (one per study, ever).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend.access.service import PersonAccess, accounts_for_person
from backend.clock import cst_date, utcnow
from backend.db import session_scope
from backend.notify.service import notify_once
from backend.records import service as records
from backend.records.models import TimelineEntry
from backend.reminders.phrases import Advice, follow_up
from backend.studies import record_kind
from backend.studies import service as studies
from backend.studies.models import Study

KIND = record_kind.KIND
FOLLOWUP_DUE = "followup_due"
# A follow-up that fell due longer ago than this is not announced: the first run of the job must not
# wake everyone about advice from years past (the timeline still lists it).
NOTICE_WINDOW = timedelta(days=30)


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


def send_due(*, engine: Engine, today: date | None = None) -> int:
    """Queue a WeChat notice for every open follow-up that fell due in the 30 days up to ``today`` (CST),
    to everyone who may read the study. Cron-able, daily; running it again adds nothing (outbox key per
    study). Returns notices added."""
    today = today or cst_date(utcnow())
    added = 0
    with session_scope(engine) as session:
        people = session.exec(select(TimelineEntry.person_id).where(
            TimelineEntry.kind == KIND, col(TimelineEntry.person_id).is_not(None)).distinct()).all()
        for person_id in people:
            if person_id is None:
                continue
            entries = list(session.exec(select(TimelineEntry).where(
                TimelineEntry.kind == KIND, TimelineEntry.person_id == person_id)
                .order_by(col(TimelineEntry.sort_key).desc())).all())
            for reminder in _reminders(session, entries):
                if reminder.done_by is not None or not today - NOTICE_WINDOW < reminder.due <= today:
                    continue
                for account_id, _relation in accounts_for_person(session=session, person_id=person_id, kind=KIND,
                                                                 ref_id=reminder.study_id):
                    added += notify_once(session, event_key=f"followup:{reminder.study_id}:due",
                                         account_id=account_id, person_id=person_id, kind=FOLLOWUP_DUE)
    return added
