"""Checkups: the hospital's PUT and the person's detail read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from backend.access import audit
from backend.api.deps import ReadablePerson, SessionDep
from backend.checkups import record_kind, service
from backend.checkups.models import Checkup
from backend.checkups.schemas import CheckupIn, CheckupOut, CheckupPutResult, SectionIn
from backend.errors import NotFound
from backend.institutions.deps import CurrentInstitution
from backend.labs import service as labs
from backend.labs.router import lab_out
from backend.records import service as records
from backend.records.schemas import InstitutionRef

router = APIRouter(tags=["checkups"])
CheckupId = Annotated[str, Path(min_length=1, max_length=64)]


@router.put("/institution/checkups/{checkup_id}", response_model=CheckupPutResult,
            responses={201: {"model": CheckupPutResult}})
def put_checkup(checkup_id: CheckupId, body: CheckupIn, session: SessionDep, institution: CurrentInstitution,
                response: Response) -> CheckupPutResult:
    result = service.put_checkup(session=session, institution_id=institution.institution_id,
                                 checkup_id=checkup_id, body=body)
    if result.changed:
        audit.record(session, principal=institution, action=audit.CREATE if result.created else audit.UPDATE,
                     event_type="checkup.put", object_type=record_kind.KIND, object_id=result.checkup.id,
                     person_id=result.person_id, detail={"version": result.checkup.version})
    response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return CheckupPutResult(id=result.checkup.id, version=result.checkup.version, changed=result.changed,
                            person_matched=result.person_id is not None, lab_ids=result.lab_ids)


@router.get("/people/{person_id}/checkups/{checkup_id}", response_model=CheckupOut)
def read_checkup(access: ReadablePerson, checkup_id: CheckupId, session: SessionDep,
                 response: Response) -> CheckupOut:
    records.require_entry(session=session, access=access, kind=record_kind.KIND, ref_id=checkup_id)
    checkup = session.get(Checkup, checkup_id)
    if checkup is None:
        raise NotFound("No such record.", code="record-not-found")
    panels = labs.labs_of_checkup(session=session, checkup_id=checkup.id) if access.allows_kind(labs.KIND) else []
    access.audit(session, event_type="checkup.read", object_type=record_kind.KIND, object_id=checkup.id)
    response.headers["Cache-Control"] = "no-store"
    names = records.institution_names(session=session, ids={checkup.institution_id})
    return CheckupOut(
        id=checkup.id, checkup_id=checkup.checkup_id, package_name=checkup.package_name, status=checkup.status,
        exam_date=checkup.exam_date, reported_at=checkup.reported_at, chief_physician=checkup.chief_physician,
        institution=InstitutionRef(id=checkup.institution_id, name=names.get(checkup.institution_id)),
        sections=[SectionIn.model_validate(s) for s in checkup.sections], conclusions=checkup.conclusions,
        recommendations=checkup.recommendations, abnormal_count=checkup.abnormal_count, version=checkup.version,
        lab_panels=[lab_out(session, lab) for lab in panels],
    )
