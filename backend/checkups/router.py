"""Checkups: the hospital's PUT and the person's detail read. Thin: the work (and the audit events)
is in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from backend.api.deps import ReadablePerson, SessionDep
from backend.checkups import service, vitals
from backend.checkups.schemas import CheckupIn, CheckupOut, CheckupPutResult, VitalPoint, VitalSeries, VitalsOut
from backend.institutions.deps import CurrentInstitution

router = APIRouter(tags=["checkups"])
CheckupId = Annotated[str, Path(min_length=1, max_length=64)]


@router.put("/institution/checkups/{checkup_id}", response_model=CheckupPutResult,
            responses={201: {"model": CheckupPutResult}})
def put_checkup(checkup_id: CheckupId, body: CheckupIn, session: SessionDep, institution: CurrentInstitution,
                response: Response) -> CheckupPutResult:
    result = service.put_checkup(session=session, principal=institution, checkup_id=checkup_id, body=body)
    stored = result.stored
    response.status_code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
    return CheckupPutResult(id=stored.row.id, version=stored.row.version, changed=stored.changed,
                            person_matched=stored.person_id is not None, lab_ids=result.lab_ids)


@router.get("/people/{person_id}/checkups/vitals", response_model=VitalsOut,
            summary="Blood pressure, weight and BMI over the years, from the checkups")
def read_vitals(access: ReadablePerson, session: SessionDep, response: Response) -> VitalsOut:
    response.headers["Cache-Control"] = "no-store"
    out = []
    for s in vitals.vitals(session=session, access=access):
        zh, en, unit, low, high = vitals.VITALS[s.key]
        out.append(VitalSeries(key=s.key, name=zh, name_en=en, unit=unit, ref_low=low, ref_high=high,
                               points=[VitalPoint(at=at, value=v, checkup_id=c) for at, v, c in s.points]))
    return VitalsOut(series=out)


@router.get("/people/{person_id}/checkups/{checkup_id}", response_model=CheckupOut)
def read_checkup(access: ReadablePerson, checkup_id: CheckupId, session: SessionDep,
                 response: Response) -> CheckupOut:
    response.headers["Cache-Control"] = "no-store"
    return service.read_checkup(session=session, access=access, checkup_id=checkup_id)
