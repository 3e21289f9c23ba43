"""Lab results: the hospital's PUT, and the person's detail and trend reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from backend.access import audit
from backend.api.deps import ReadablePerson, SessionDep
from backend.errors import NotFound
from backend.institutions.deps import CurrentInstitution
from backend.labs import codes, record_kind, service
from backend.labs.models import LabReport
from backend.labs.schemas import (
    LabItemOut,
    LabReportIn,
    LabReportOut,
    PutResult,
    TrendAvailable,
    TrendIndex,
    TrendPoint,
    TrendResponse,
)
from backend.records import service as records
from backend.records.schemas import InstitutionRef

router = APIRouter(tags=["lab results"])
ReportId = Annotated[str, Path(min_length=1, max_length=64)]


@router.put("/institution/lab-reports/{report_id}", response_model=PutResult, responses={201: {"model": PutResult}})
def put_lab_report(report_id: ReportId, body: LabReportIn, session: SessionDep, institution: CurrentInstitution,
                   response: Response) -> PutResult:
    """Idempotent: the same panel again changes nothing; a changed one becomes the next version."""
    result = service.put_lab_report(session=session, institution_id=institution.institution_id,
                                    report_id=report_id, body=body)
    if result.changed:
        audit.record(session, principal=institution, action=audit.CREATE if result.created else audit.UPDATE,
                     event_type="lab.put", object_type=record_kind.KIND, object_id=result.lab.id,
                     person_id=result.person_id, detail={"version": result.lab.version})
    response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return PutResult(id=result.lab.id, version=result.lab.version, changed=result.changed,
                     person_matched=result.person_id is not None)


def lab_out(session: SessionDep, lab: LabReport) -> LabReportOut:
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


@router.get("/people/{person_id}/labs/trends", response_model=TrendResponse | TrendIndex)
def read_trend(access: ReadablePerson, session: SessionDep, response: Response,
               code: Annotated[str | None, Query(min_length=1, max_length=64)] = None) -> TrendResponse | TrendIndex:
    """Without ``code``: the analytes this person has values for. With it (an analyte key such as
    ``glucose``, a LOINC code, or an item name such as 低密度脂蛋白胆固醇): the values over time."""
    response.headers["Cache-Control"] = "no-store"
    if code is None:
        found = service.available_trends(session=session, access=access)
        access.audit(session, event_type="lab.trends.list", object_type="person", object_id=access.person_id)
        return TrendIndex(items=[TrendAvailable(
            analyte=a, name=codes.ANALYTES[a].name_zh, name_en=codes.ANALYTES[a].name_en, unit=codes.ANALYTES[a].unit,
            count=n, latest_at=latest) for a, n, latest in sorted(found) if a in codes.ANALYTES])
    analyte_key, rows = service.trend(session=session, access=access, code=code)
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


@router.get("/people/{person_id}/labs/{lab_id}", response_model=LabReportOut)
def read_lab(access: ReadablePerson, lab_id: ReportId, session: SessionDep, response: Response) -> LabReportOut:
    records.require_entry(session=session, access=access, kind=record_kind.KIND, ref_id=lab_id)
    lab = session.get(LabReport, lab_id)
    if lab is None:
        raise NotFound("No such record.", code="record-not-found")
    access.audit(session, event_type="lab.read", object_type=record_kind.KIND, object_id=lab.id)
    response.headers["Cache-Control"] = "no-store"
    return lab_out(session, lab)
