"""Lab results: the hospital's PUT, and the person's detail and trend reads. Thin: the work (and the
audit events) is in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from backend.api.deps import ReadablePerson, SessionDep
from backend.institutions.deps import CurrentInstitution
from backend.labs import service
from backend.labs.schemas import LabReportIn, LabReportOut, PutResult, TrendIndex, TrendResponse

router = APIRouter(tags=["lab results"])
ReportId = Annotated[str, Path(min_length=1, max_length=64)]


@router.put("/institution/lab-reports/{report_id}", response_model=PutResult, responses={201: {"model": PutResult}})
def put_lab_report(report_id: ReportId, body: LabReportIn, session: SessionDep, institution: CurrentInstitution,
                   response: Response) -> PutResult:
    """Idempotent: the same panel again changes nothing; a changed one becomes the next version."""
    stored = service.put_lab_report(session=session, principal=institution, report_id=report_id, body=body)
    response.status_code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
    return PutResult(id=stored.row.id, version=stored.row.version, changed=stored.changed,
                     person_matched=stored.person_id is not None)


@router.get("/people/{person_id}/labs/trends", response_model=TrendResponse | TrendIndex)
def read_trend(access: ReadablePerson, session: SessionDep, response: Response,
               code: Annotated[str | None, Query(min_length=1, max_length=64)] = None) -> TrendResponse | TrendIndex:
    """Without ``code``: the analytes this person has values for. With it (an analyte key such as
    ``glucose``, a LOINC code, or an item name such as 低密度脂蛋白胆固醇): the values over time."""
    response.headers["Cache-Control"] = "no-store"
    if code is None:
        return service.trend_index(session=session, access=access)
    return service.trend_view(session=session, access=access, code=code)


@router.get("/people/{person_id}/labs/{lab_id}", response_model=LabReportOut)
def read_lab(access: ReadablePerson, lab_id: ReportId, session: SessionDep, response: Response) -> LabReportOut:
    response.headers["Cache-Control"] = "no-store"
    return service.read_lab(session=session, access=access, lab_id=lab_id)
