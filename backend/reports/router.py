"""Hospital endpoints for diagnostic reports (API key).

``PUT /api/v1/institution/reports/{accession_number}`` addresses a report by the RIS accession
number; ``PUT /api/v1/institution/reports/by-study-uid/{study_instance_uid}`` by the study's UID for
hospitals whose RIS has none. Both are idempotent: the same body again changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from backend.api.deps import SessionDep
from backend.institutions.deps import CurrentInstitution
from backend.records.upsert import Stored
from backend.reports import service
from backend.reports.models import DiagnosticReport
from backend.reports.schemas import UID_PATTERN, ReportIn, ReportOut, ReportPutResult, ReportVersionOut

router = APIRouter(prefix="/institution", tags=["institution: reports"])

Accession = Annotated[str, Path(min_length=1, max_length=64)]
StudyUid = Annotated[str, Path(max_length=64, pattern=UID_PATTERN)]


def _answer(stored: Stored[DiagnosticReport], response: Response) -> ReportPutResult:
    report = stored.row
    response.status_code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
    return ReportPutResult(id=report.id, version=report.version, changed=stored.changed, status=report.status,
                           study_id=report.study_id)


@router.put("/reports/{accession_number}", response_model=ReportPutResult,
            responses={201: {"model": ReportPutResult}})
def put_report(accession_number: Accession, body: ReportIn, session: SessionDep,
               institution: CurrentInstitution, response: Response) -> ReportPutResult:
    stored = service.put_report(session=session, principal=institution, body=body, accession_number=accession_number)
    return _answer(stored, response)


@router.put("/reports/by-study-uid/{study_instance_uid}", response_model=ReportPutResult,
            responses={201: {"model": ReportPutResult}})
def put_report_by_uid(study_instance_uid: StudyUid, body: ReportIn, session: SessionDep,
                      institution: CurrentInstitution, response: Response) -> ReportPutResult:
    stored = service.put_report(session=session, principal=institution, body=body,
                                study_instance_uid=study_instance_uid)
    return _answer(stored, response)


@router.get("/reports/{accession_number}", response_model=ReportOut)
def get_report(accession_number: Accession, session: SessionDep, institution: CurrentInstitution) -> ReportOut:
    report = service.institution_report(session=session, institution_id=institution.institution_id,
                                        accession_number=accession_number, study_instance_uid=None)
    return ReportOut.model_validate(report, from_attributes=True)


@router.get("/reports/{accession_number}/versions", response_model=list[ReportVersionOut])
def get_report_versions(accession_number: Accession, session: SessionDep,
                        institution: CurrentInstitution) -> list[ReportVersionOut]:
    report = service.institution_report(session=session, institution_id=institution.institution_id,
                                        accession_number=accession_number, study_instance_uid=None)
    return [ReportVersionOut(version=r.version, status=r.status, received_at=r.received_at, content=r.content)
            for r in service.versions(session=session, report_id=report.id)]
