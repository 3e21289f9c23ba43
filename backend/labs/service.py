"""Lab results: storing panels from a hospital's LIS (idempotent, with history) and trends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, delete, func, select

from backend.access.service import PersonAccess
from backend.ids import utcnow
from backend.labs import codes, record_kind, values
from backend.labs.models import LabItem, LabReport
from backend.labs.schemas import LabItemIn, LabReportIn
from backend.records import service as records
from backend.records.models import TimelineEntry

KIND = record_kind.KIND


@dataclass(frozen=True, slots=True)
class PutResult:
    lab: LabReport
    changed: bool
    created: bool
    person_id: str | None


def _item_row(lab_id: str, seq: int, item: LabItemIn) -> LabItem:
    text, number, arrow = values.parse_value(item.value)
    low, high = item.ref_low, item.ref_high
    if low is None and high is None:
        low, high = values.parse_range(item.reference_range)
    flag = item.flag or arrow or values.derive_flag(number, low, high)
    analyte = codes.analyte_for(loinc=item.loinc, code=item.code, name=item.name)
    factor = codes.factor_to_canonical(analyte=analyte, unit=item.unit) if analyte else None
    canonical = codes.ANALYTES[analyte].unit if analyte and factor is not None else None

    def scaled(v: float | None) -> float | None:
        return None if v is None or factor is None else round(v * factor, 4)

    return LabItem(
        lab_report_id=lab_id, seq=seq, code=item.code, loinc=item.loinc, name=item.name, value_text=text,
        value_num=number, unit=item.unit, ref_low=low, ref_high=high, ref_text=item.reference_range, flag=flag,
        analyte=analyte, norm_value=scaled(number), norm_unit=canonical, norm_ref_low=scaled(low),
        norm_ref_high=scaled(high),
    )


def put_lab_report(
    *, session: Session, institution_id: str, report_id: str, body: LabReportIn, checkup_id: str | None = None
) -> PutResult:
    lab = session.exec(
        select(LabReport).where(LabReport.institution_id == institution_id, LabReport.report_id == report_id)
    ).first()
    created = lab is None
    if lab is None:
        lab = LabReport(institution_id=institution_id, report_id=report_id, local_patient_id=body.local_patient_id,
                        panel_name=body.panel_name, status=body.status, reported_at=body.reported_at)
    content = body.model_dump(mode="json")
    revision = records.save_revision(session=session, kind=KIND, ref_id=lab.id, content=content, status=body.status)
    if not revision.changed and (checkup_id is None or lab.checkup_id == checkup_id):
        entry = session.exec(select(TimelineEntry).where(TimelineEntry.kind == KIND,
                                                         TimelineEntry.ref_id == lab.id)).first()
        return PutResult(lab=lab, changed=False, created=False, person_id=entry.person_id if entry else None)
    for field in ("local_patient_id", "panel_name", "specimen", "status", "collected_at", "received_at",
                  "reported_at", "department", "reporting_physician", "reviewing_physician",
                  "mutual_recognition_mark"):
        setattr(lab, field, getattr(body, field))
    lab.checkup_id = checkup_id or lab.checkup_id
    lab.version = revision.version
    lab.updated_at = utcnow()
    session.add(lab)
    session.flush()
    session.execute(delete(LabItem).where(col(LabItem.lab_report_id) == lab.id))
    rows = [_item_row(lab.id, n, item) for n, item in enumerate(body.items)]
    lab.abnormal_count = sum(1 for r in rows if r.flag in values.ABNORMAL_FLAGS)
    session.add_all([*rows, lab])
    session.flush()
    entry = records.sync(session=session, kind=KIND, ref_id=lab.id)
    return PutResult(lab=lab, changed=True, created=created, person_id=entry.person_id if entry else None)


def labs_of_checkup(*, session: Session, checkup_id: str) -> list[LabReport]:
    return list(session.exec(select(LabReport).where(LabReport.checkup_id == checkup_id)
                             .order_by(col(LabReport.reported_at))).all())


# -- trends ------------------------------------------------------------------------------------


def _person_items(session: Session, access: PersonAccess) -> Any:
    return (
        select(LabItem, LabReport, TimelineEntry.occurred_at)
        .join(LabReport, col(LabReport.id) == col(LabItem.lab_report_id))
        .join(TimelineEntry, (col(TimelineEntry.kind) == KIND) & (col(TimelineEntry.ref_id) == col(LabReport.id)))
        .where(*records.access_clauses(access))
    )


TrendRow = tuple[LabItem, LabReport, Any]


def trend(*, session: Session, access: PersonAccess, code: str) -> tuple[str | None, list[TrendRow]]:
    """(analyte key or None, the matching items oldest first). Items are matched by analyte when the
    code resolves to one (across hospitals and units), else by the hospital's code or LOINC as sent."""
    if not access.allows_kind(KIND):
        return None, []
    analyte = codes.resolve_query(code)
    query = _person_items(session, access)
    if analyte:
        query = query.where(col(LabItem.analyte) == analyte)
    else:
        query = query.where((col(LabItem.code) == code) | (col(LabItem.loinc) == code))
    rows = session.exec(query.order_by(col(TimelineEntry.sort_key))).all()
    return analyte, [(item, lab, at) for item, lab, at in rows]


def available_trends(*, session: Session, access: PersonAccess) -> list[tuple[str, int, Any]]:
    if not access.allows_kind(KIND):
        return []
    rows = session.exec(
        select(LabItem.analyte, func.count(), func.max(TimelineEntry.occurred_at))
        .join(LabReport, col(LabReport.id) == col(LabItem.lab_report_id))
        .join(TimelineEntry, (col(TimelineEntry.kind) == KIND) & (col(TimelineEntry.ref_id) == col(LabReport.id)))
        .where(*records.access_clauses(access), col(LabItem.analyte).is_not(None))
        .group_by(col(LabItem.analyte))
    ).all()
    return [(a, n, latest) for a, n, latest in rows if a]
