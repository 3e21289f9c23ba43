"""Checkups: storing a package from a hospital (idempotent, with history) with its lab panels."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from backend.checkups import record_kind
from backend.checkups.models import Checkup
from backend.checkups.schemas import CheckupIn
from backend.errors import BadRequest
from backend.ids import utcnow
from backend.labs import service as labs
from backend.labs.schemas import LabReportIn
from backend.labs.values import ABNORMAL_FLAGS
from backend.records import service as records
from backend.records.models import TimelineEntry

KIND = record_kind.KIND


@dataclass(frozen=True, slots=True)
class PutResult:
    checkup: Checkup
    changed: bool
    created: bool
    person_id: str | None
    lab_ids: list[str]


def put_checkup(*, session: Session, institution_id: str, checkup_id: str, body: CheckupIn) -> PutResult:
    checkup = session.exec(
        select(Checkup).where(Checkup.institution_id == institution_id, Checkup.checkup_id == checkup_id)
    ).first()
    created = checkup is None
    if checkup is None:
        checkup = Checkup(institution_id=institution_id, checkup_id=checkup_id, local_patient_id=body.local_patient_id,
                          package_name=body.package_name, status=body.status, exam_date=body.exam_date)
    revision = records.save_revision(session=session, kind=KIND, ref_id=checkup.id,
                                     content=body.model_dump(mode="json"), status=body.status)
    lab_ids = []
    for panel in body.lab_panels:
        if panel.local_patient_id != body.local_patient_id:
            raise BadRequest("A lab panel of a checkup must be for the same patient.", code="panel-patient-mismatch",
                             report_id=panel.report_id)
    if revision.changed:
        checkup.local_patient_id = body.local_patient_id
        checkup.package_name = body.package_name
        checkup.status = body.status
        checkup.exam_date = body.exam_date
        checkup.reported_at = body.reported_at
        checkup.chief_physician = body.chief_physician
        checkup.sections = [s.model_dump(mode="json") for s in body.sections]
        checkup.conclusions = list(body.conclusions)
        checkup.recommendations = list(body.recommendations)
        checkup.abnormal_count = sum(1 for s in body.sections for i in s.items if i.flag in ABNORMAL_FLAGS)
        checkup.version = revision.version
        checkup.updated_at = utcnow()
        session.add(checkup)
        session.flush()
    for panel in body.lab_panels:
        lab_body = LabReportIn.model_validate(panel.model_dump(exclude={"report_id"}))
        result = labs.put_lab_report(session=session, institution_id=institution_id, report_id=panel.report_id,
                                     body=lab_body, checkup_id=checkup.id)
        lab_ids.append(result.lab.id)
    entry = records.sync(session=session, kind=KIND, ref_id=checkup.id) if revision.changed else session.exec(
        select(TimelineEntry).where(TimelineEntry.kind == KIND, TimelineEntry.ref_id == checkup.id)).first()
    return PutResult(checkup=checkup, changed=revision.changed, created=created,
                     person_id=entry.person_id if entry else None, lab_ids=lab_ids)
