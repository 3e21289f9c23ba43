"""The timeline core: entries kept in step with their kinds, revisions, MPI joining, and the
keyset-paginated timeline query.

Kinds call :func:`sync` after they store or change a record; the core asks the kind (through the
registry) to summarize it and upserts the entry. Reads take a :class:`PersonAccess` (the access
policy's decision) and never return what it does not allow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from backend.access.service import PersonAccess
from backend.clock import CST, from_hospital, utcnow
from backend.errors import BadRequest, NotFound
from backend.ids import new_id
from backend.institutions import names as institution_cache
from backend.notify import service as notify
from backend.people import service as people
from backend.records import cursor as cursors
from backend.records import registry
from backend.records.models import RecordRevision, TimelineEntry

MAX_LIMIT = 100
# Records restricted by a share's study list (PersonAccess.study_ids) are imaging studies.
SHARE_SCOPED_KIND = "imaging_study"


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes from hospitals are China local time (the province's systems run on CST)."""
    return from_hospital(moment)


def _time_prefix(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y%m%d%H%M%S%f")  # 20 fixed-width digits: string order = time order


def sort_key_for(*, occurred_at: datetime, entry_id: str) -> str:
    return f"{_time_prefix(occurred_at)}{entry_id}"


def china_year(moment: datetime) -> int:
    return as_utc(moment).astimezone(CST).year


# -- MPI ---------------------------------------------------------------------------------------


def resolve_person(
    *, session: Session, institution_id: str | None, local_patient_id: str | None,
    resident_id_index: str | None = None,
) -> str | None:
    """The person a hospital's record belongs to, by the MPI's rules (local ID link, else resident ID)."""
    if not institution_id:
        return None
    return people.resolve_person(session=session, institution_id=institution_id,
                                 local_patient_id=local_patient_id, resident_id_index=resident_id_index)


def link_unmatched(*, session: Session, institution_id: str, local_patient_id: str, person_id: str) -> int:
    """MPI hook: a registration linked ``(institution, local ID)`` to a person; entries that arrived
    before it join that person's timeline now. Returns how many joined."""
    result = session.execute(
        sa.update(TimelineEntry)
        .where(
            col(TimelineEntry.institution_id) == institution_id,
            col(TimelineEntry.local_patient_id) == local_patient_id,
            col(TimelineEntry.person_id).is_(None),
        )
        .values(person_id=person_id, updated_at=utcnow())
    )
    joined = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if joined:
        registry.entries_changed(session=session, kind=None, person_ids={person_id})
    return joined


# -- writing -----------------------------------------------------------------------------------


def _meaning(entry: TimelineEntry) -> tuple[Any, ...]:
    """What derived data (reminders) may depend on: whose, when, what and what it says — not the
    counts that change with every arriving instance."""
    data = entry.data or {}
    at = entry.occurred_at  # naive UTC from SQLite, aware from PostgreSQL or a fresh assignment
    at = at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
    return (entry.person_id, at, entry.title, entry.summary, entry.status, entry.tags,
            data.get("body_part"), data.get("has_report"))


def sync(*, session: Session, kind: str, ref_id: str) -> TimelineEntry | None:
    """Brings the timeline entry of one record in line with the record (creates, updates or removes)."""
    record_kind = registry.require(kind)
    entry = session.exec(
        select(TimelineEntry).where(TimelineEntry.kind == kind, TimelineEntry.ref_id == ref_id)
    ).first()
    summary = record_kind.summarize(session=session, ref_id=ref_id)
    if summary is None:
        if entry is not None:
            session.delete(entry)
            session.flush()
            registry.entries_changed(session=session, kind=kind, person_ids={entry.person_id})
        return None
    if entry is None:
        entry_id = new_id()
        entry = TimelineEntry(id=entry_id, kind=kind, ref_id=ref_id, occurred_at=summary.occurred_at,
                              year=0, sort_key="", title="")
    was_visible = entry.person_id is not None
    before = _meaning(entry)
    person_id = summary.person_id or entry.person_id or resolve_person(
        session=session, institution_id=summary.institution_id, local_patient_id=summary.local_patient_id,
        resident_id_index=summary.resident_id_index,
    )
    entry.person_id = person_id
    entry.occurred_at = as_utc(summary.occurred_at)
    entry.year = china_year(summary.occurred_at)
    entry.sort_key = sort_key_for(occurred_at=summary.occurred_at, entry_id=entry.id)
    entry.institution_id = summary.institution_id
    entry.local_patient_id = summary.local_patient_id
    entry.title = summary.title[:200]
    entry.summary = summary.summary[:500]
    entry.status = summary.status
    entry.tags = " " + " ".join(t for t in summary.tags if t) + " "
    entry.data = dict(summary.data)
    entry.updated_at = utcnow()
    session.add(entry)
    session.flush()
    if _meaning(entry) != before:
        registry.entries_changed(session=session, kind=kind, person_ids={before[0], person_id})
    if person_id and not was_visible:
        # A record newly on someone's timeline: the people who may read it get a WeChat notice
        # (outbox row in this transaction; idempotent per record, so ingest's own call adds nothing).
        notify.notify_new_record(session=session, person_id=person_id, record_id=entry.ref_id, record_kind=kind)
    return entry


def set_counts(*, session: Session, kind: str, ref_id: str, person_id: str, counts: dict[str, int]) -> bool:
    """What :func:`sync` writes when only counts in the record's ``data`` changed (an instance more): those
    values, and ``updated_at``. Nothing else of the entry is derived from them, and no hook runs for them
    (``_meaning``; registry.EntriesChanged). Core statements on the table: an ORM object of the entry
    already in the session is not updated. Returns False, having written nothing, when more than the
    counts may need writing — the entry is missing, is not on ``person_id``'s timeline, or its data lacks
    one of the counts: then the kind calls :func:`sync`."""
    connection = session.connection()
    entry = connection.execute(_ENTRY_DATA, {"kind": kind, "ref": ref_id}).first()
    if entry is None or entry.person_id is None or entry.person_id != person_id:
        return False
    data = entry.data
    if not isinstance(data, dict) or not counts.keys() <= data.keys():
        return False
    connection.execute(_SET_DATA, {"entry": entry.id, "data": {**data, **counts}, "now": utcnow()})
    return True


# set_counts's statements, built once (ingest runs them in every batch): building them cost more than running.
_entries: sa.Table = TimelineEntry.__table__  # type: ignore[attr-defined]
_ENTRY_DATA = select(_entries.c.id, _entries.c.person_id, _entries.c.data).where(
    _entries.c.kind == sa.bindparam("kind"), _entries.c.ref_id == sa.bindparam("ref"))
_SET_DATA = sa.update(_entries).where(_entries.c.id == sa.bindparam("entry")).values(
    data=sa.bindparam("data", type_=_entries.c.data.type),
    updated_at=sa.bindparam("now", type_=_entries.c.updated_at.type))


def content_sha256(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RevisionResult:
    version: int
    changed: bool


def save_revision(
    *, session: Session, kind: str, ref_id: str, content: dict[str, Any], status: str | None = None
) -> RevisionResult:
    """Appends ``content`` as the record's next version unless it equals the latest (idempotent PUT)."""
    digest = content_sha256(content)
    latest = session.exec(
        select(RecordRevision)
        .where(RecordRevision.kind == kind, RecordRevision.ref_id == ref_id)
        .order_by(col(RecordRevision.version).desc())
        .limit(1)
    ).first()
    if latest is not None and latest.content_sha256 == digest:
        return RevisionResult(version=latest.version, changed=False)
    version = 1 if latest is None else latest.version + 1
    session.add(RecordRevision(kind=kind, ref_id=ref_id, version=version, content_sha256=digest,
                               status=status, content=json.loads(json.dumps(content, default=str))))
    return RevisionResult(version=version, changed=True)


def revisions(*, session: Session, kind: str, ref_id: str) -> list[RecordRevision]:
    return list(session.exec(
        select(RecordRevision)
        .where(RecordRevision.kind == kind, RecordRevision.ref_id == ref_id)
        .order_by(col(RecordRevision.version))
    ).all())


# -- reading -----------------------------------------------------------------------------------


def access_clauses(access: PersonAccess) -> list[Any]:
    clauses: list[Any] = [col(TimelineEntry.person_id) == access.person_id]
    if access.kinds is not None:
        clauses.append(col(TimelineEntry.kind).in_(sorted(access.kinds)))
    if access.study_ids is not None:
        clauses.append(col(TimelineEntry.kind) == SHARE_SCOPED_KIND)
        clauses.append(col(TimelineEntry.ref_id).in_(sorted(access.study_ids)))
    if access.hidden_refs:  # records the person hid from this relative: as if they did not exist
        clauses.append(col(TimelineEntry.ref_id).not_in(sorted(access.hidden_refs)))
    return clauses


def require_entry(*, session: Session, access: PersonAccess, kind: str, ref_id: str) -> TimelineEntry:
    """The entry of ``(kind, ref_id)`` if it is on this person's timeline and the access allows it.

    A record of another person, an unmatched one, or one the access does not cover is the same 404
    as a record that does not exist.
    """
    entry = None
    if access.allows_kind(kind):
        entry = session.exec(
            select(TimelineEntry).where(
                TimelineEntry.kind == kind, TimelineEntry.ref_id == ref_id, *access_clauses(access)
            )
        ).first()
    if entry is None:
        raise NotFound("No such record.", zh="未找到该记录", code="record-not-found")
    return entry


def person_entries(*, session: Session, access: PersonAccess, kind: str) -> list[TimelineEntry]:
    """All of one kind's entries the access allows, newest first (for FHIR export, priors …)."""
    if not access.allows_kind(kind):
        return []
    return list(session.exec(
        select(TimelineEntry)
        .where(TimelineEntry.kind == kind, *access_clauses(access))
        .order_by(col(TimelineEntry.sort_key).desc())
    ).all())


@dataclass(frozen=True, slots=True)
class TimelineFilters:
    kinds: tuple[str, ...] = ()
    institution_id: str | None = None
    modality: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_scope(self) -> dict[str, str | None]:
        return {
            "kind": ",".join(self.kinds) or None,
            "institution": self.institution_id,
            "modality": self.modality,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }


@dataclass(frozen=True, slots=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None
    institutions: dict[str, str]


def _day_start_prefix(day: date) -> str:
    return _time_prefix(datetime.combine(day, time.min, tzinfo=CST))


def _filter_clauses(filters: TimelineFilters) -> list[Any]:
    clauses: list[Any] = []
    for kind in filters.kinds:
        registry.require(kind)
    if len(filters.kinds) == 1:
        clauses.append(col(TimelineEntry.kind) == filters.kinds[0])
    elif filters.kinds:
        clauses.append(col(TimelineEntry.kind).in_(filters.kinds))
    if filters.institution_id:
        clauses.append(col(TimelineEntry.institution_id) == filters.institution_id)
    if filters.modality:
        modality = filters.modality.strip().upper()
        if not modality.isalnum() or len(modality) > 16:
            raise BadRequest("modality must be a DICOM modality code such as CT or MR.",
                             zh="检查类型须为 DICOM 代码，如 CT、MR", code="invalid-modality")
        clauses.append(col(TimelineEntry.tags).like(f"% {modality} %"))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise BadRequest("from must not be after to.", zh="开始日期不能晚于结束日期", code="invalid-date-range")
    # date.min / date.max are open ends: 0001-01-01 CST starts before year 1 in UTC, 9999-12-31 has no next day.
    if filters.date_from and filters.date_from > date.min:
        clauses.append(col(TimelineEntry.sort_key) >= _day_start_prefix(filters.date_from))
    if filters.date_to and filters.date_to < date.max:  # inclusive: everything before the next day starts (CST)
        clauses.append(col(TimelineEntry.sort_key) < _day_start_prefix(filters.date_to + timedelta(days=1)))
    return clauses


def timeline(
    *,
    session: Session,
    access: PersonAccess,
    cursor_key: bytes,
    filters: TimelineFilters,
    cursor: str | None = None,
    limit: int = 20,
) -> TimelinePage:
    """One page of the person's timeline, newest first (keyset pagination on ``sort_key``)."""
    limit = max(1, min(limit, MAX_LIMIT))
    scope = cursors.scope_digest(person_id=access.person_id, filters=filters.as_scope())
    clauses = access_clauses(access) + _filter_clauses(filters)
    if cursor:
        clauses.append(col(TimelineEntry.sort_key) < cursors.decode(key=cursor_key, scope=scope, cursor=cursor))
    rows = list(session.exec(
        select(TimelineEntry).where(*clauses).order_by(col(TimelineEntry.sort_key).desc()).limit(limit + 1)
    ).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode(key=cursor_key, scope=scope, sort_key=rows[-1].sort_key) if more else None
    return TimelinePage(entries=rows, next_cursor=next_cursor, institutions=institution_names(
        session=session, ids={r.institution_id for r in rows if r.institution_id}))


def institution_names(*, session: Session, ids: set[str]) -> dict[str, str]:
    """Display names of these hospitals (cached per process for minutes: backend/institutions/names.py)."""
    return institution_cache.names(session=session, ids=ids) if ids else {}


@dataclass(frozen=True, slots=True)
class TimelineCounts:
    by_kind: dict[str, int]
    by_year: dict[str, int]
    total: int


def counts(*, session: Session, access: PersonAccess, filters: TimelineFilters | None = None) -> TimelineCounts:
    """Per kind (the filter chips: every kind, under the other filters) and per year (the year headers: what
    the list shows, so under every filter — issue 19 item 2: a year must not say 12 above 3 cards)."""
    filters = filters or TimelineFilters()
    rows = session.exec(
        select(TimelineEntry.kind, TimelineEntry.year, func.count())
        .where(*access_clauses(access), *_filter_clauses(replace(filters, kinds=())))
        .group_by(col(TimelineEntry.kind), col(TimelineEntry.year))
    ).all()
    by_kind: dict[str, int] = {}
    by_year: dict[str, int] = {}
    for kind, year, n in rows:
        by_kind[kind] = by_kind.get(kind, 0) + n
        if not filters.kinds or kind in filters.kinds:
            by_year[str(year)] = by_year.get(str(year), 0) + n
    return TimelineCounts(by_kind=by_kind, by_year=dict(sorted(by_year.items(), reverse=True)),
                          total=sum(by_kind.values()))


def parse_kinds(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    for name in names:
        registry.require(name)
    return names


def kind_label(kind: str) -> tuple[str, str]:
    found = registry.get(kind)
    return (found.label_zh, found.label_en) if found else (kind, kind)


def detail_path(entry: TimelineEntry) -> str | None:
    found = registry.get(entry.kind)
    return found.detail_path(entry.person_id, entry.ref_id) if found and entry.person_id else None


