"""Lab results: storing panels from a hospital's LIS (idempotent, with history) and trends."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, delete, func, select

from backend.access.principals import InstitutionPrincipal
from backend.access.service import PersonAccess
from backend.errors import NotFound
from backend.labs import codes, record_kind, values
from backend.labs.models import LabItem, LabReport
from backend.labs.schemas import (
    LabItemIn,
    LabItemOut,
    LabReportIn,
    LabReportOut,
    TrendAvailable,
    TrendIndex,
    TrendPoint,
    TrendResponse,
)
from backend.records import service as records
from backend.records.models import TimelineEntry
from backend.records.schemas import InstitutionRef
from backend.records.upsert import Stored, person_on_timeline, put_versioned

KIND = record_kind.KIND


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
    *, session: Session, principal: InstitutionPrincipal, report_id: str, body: LabReportIn,
    checkup_id: str | None = None,
) -> Stored[LabReport]:
    """Idempotent: the same panel again changes nothing; a changed one becomes the next version (audited)."""
    institution_id = principal.institution_id
    lab = session.exec(
        select(LabReport).where(LabReport.institution_id == institution_id, LabReport.report_id == report_id)
    ).first()

    def new() -> LabReport:
        return LabReport(institution_id=institution_id, report_id=report_id, local_patient_id=body.local_patient_id,
                         panel_name=body.panel_name, status=body.status, reported_at=body.reported_at)

    def apply(row: LabReport) -> str | None:
        for name in ("local_patient_id", "panel_name", "specimen", "status", "collected_at", "received_at",
                     "reported_at", "department", "reporting_physician", "reviewing_physician",
                     "mutual_recognition_mark"):
            setattr(row, name, getattr(body, name))
        row.checkup_id = checkup_id or row.checkup_id
        session.add(row)
        session.flush()
        session.execute(delete(LabItem).where(col(LabItem.lab_report_id) == row.id))
        items = [_item_row(row.id, n, item) for n, item in enumerate(body.items)]
        row.abnormal_count = sum(1 for r in items if r.flag in values.ABNORMAL_FLAGS)
        session.add_all([*items, row])
        session.flush()
        entry = records.sync(session=session, kind=KIND, ref_id=row.id)
        return entry.person_id if entry else None

    return put_versioned(
        session, principal=principal, kind=KIND, event_type="lab.put", existing=lab, new=new,
        content=body.model_dump(mode="json"), status=body.status, apply=apply,
        unchanged_person=lambda row: person_on_timeline(session, kind=KIND, ref_id=row.id),
        force=lab is not None and checkup_id is not None and lab.checkup_id != checkup_id,
    )


def lab_detail(session: Session, lab: LabReport) -> LabReportOut:
    """The API's view of one panel (the person's read and a checkup's panels)."""
    names = records.institution_names(session=session, ids={lab.institution_id})
    return LabReportOut(
        id=lab.id, report_id=lab.report_id, panel_name=lab.panel_name, specimen=lab.specimen, status=lab.status,
        collected_at=lab.collected_at, received_at=lab.received_at, reported_at=lab.reported_at,
        department=lab.department, reporting_physician=lab.reporting_physician,
        reviewing_physician=lab.reviewing_physician, mutual_recognition_mark=lab.mutual_recognition_mark,
        institution=InstitutionRef(id=lab.institution_id, name=names.get(lab.institution_id)),
        abnormal_count=lab.abnormal_count, checkup_id=lab.checkup_id, version=lab.version,
        items=[LabItemOut(code=i.code, loinc=i.loinc, name=i.name, value=i.value_text, value_number=i.value_num,
                          unit=i.unit, reference_range=i.ref_text, ref_low=i.ref_low, ref_high=i.ref_high,
                          flag=i.flag, analyte=i.analyte) for i in record_kind.items_of(session, lab.id)],
    )


def read_lab(*, session: Session, access: PersonAccess, lab_id: str) -> LabReportOut:
    records.require_entry(session=session, access=access, kind=KIND, ref_id=lab_id)
    lab = session.get(LabReport, lab_id)
    if lab is None:
        raise NotFound("No such record.", zh="未找到该记录", code="record-not-found")
    access.audit(session, event_type="lab.read", object_type=KIND, object_id=lab.id)
    return lab_detail(session, lab)


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


def trend_index(*, session: Session, access: PersonAccess) -> TrendIndex:
    """The analytes this person has values for (audited as a read of the trend list)."""
    found = available_trends(session=session, access=access)
    access.audit(session, event_type="lab.trends.list", object_type="person", object_id=access.person_id)
    return TrendIndex(items=[TrendAvailable(
        analyte=a, name=codes.ANALYTES[a].name_zh, name_en=codes.ANALYTES[a].name_en, unit=codes.ANALYTES[a].unit,
        count=n, latest_at=latest) for a, n, latest in sorted(found) if a in codes.ANALYTES])


def trend_view(*, session: Session, access: PersonAccess, code: str) -> TrendResponse:
    """One analyte's values over time, in its canonical unit where the hospital's unit converts."""
    analyte_key, rows = trend(session=session, access=access, code=code)
    analyte = codes.ANALYTES.get(analyte_key or "")
    names = records.institution_names(session=session, ids={lab.institution_id for _, lab, _ in rows})
    points = []
    for item, lab, at in rows:
        normalized = analyte is not None and item.norm_unit is not None
        points.append(TrendPoint(
            at=at, value=item.norm_value if normalized else (item.value_num if analyte is None else None),
            value_text=item.value_text, original_value=item.value_num, original_unit=item.unit,
            ref_low=item.norm_ref_low if normalized else (item.ref_low if analyte is None else None),
            ref_high=item.norm_ref_high if normalized else (item.ref_high if analyte is None else None),
            flag=item.flag, item_name=item.name, lab_id=lab.id,
            institution=InstitutionRef(id=lab.institution_id, name=names.get(lab.institution_id)),
        ))
    access.audit(session, event_type="lab.trend.read", object_type="lab_analyte", object_id=analyte_key or code)
    unit = analyte.unit if analyte else (rows[-1][0].unit if rows else None)
    return TrendResponse(code=code, analyte=analyte_key, name=analyte.name_zh if analyte else code,
                         name_en=analyte.name_en if analyte else code, unit=unit, points=points)
