"""Checkups: storing a package from a hospital (idempotent, with history) with its lab panels, and the
person's read of one."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, select

from backend.access.principals import InstitutionPrincipal
from backend.access.service import PersonAccess
from backend.checkups import record_kind
from backend.checkups.models import Checkup
from backend.checkups.schemas import CheckupIn, CheckupOut, SectionIn
from backend.errors import BadRequest, NotFound
from backend.labs import service as labs
from backend.labs.schemas import LabReportIn
from backend.labs.values import ABNORMAL_FLAGS
from backend.records import service as records
from backend.records.schemas import InstitutionRef
from backend.records.upsert import Stored, person_on_timeline, put_versioned

KIND = record_kind.KIND


@dataclass(frozen=True, slots=True)
class PutResult:
    stored: Stored[Checkup]
    lab_ids: list[str]


# A conclusion that says all is well (未见明显异常, 各项检查结果正常 …) is not a finding.
_NORMAL = re.compile(r"^\s*(?:\d+[.、．]\s*)?"
                     r"(?:未见.{0,4}异常|(?:各项)?(?:检查)?(?:结果)?(?:均)?(?:在)?正常(?:范围)?)\s*[。.]?\s*$")


def abnormal_count(body: CheckupIn) -> int:
    """The findings to note — the 总检结论 the physician listed, so the card's count and the conclusions
    agree (issue 19 item 2); without conclusions, the flagged items of the sections."""
    findings = [c for c in body.conclusions if c.strip() and not _NORMAL.match(c)]
    if body.conclusions:
        return len(findings)
    return sum(1 for s in body.sections for i in s.items if i.flag in ABNORMAL_FLAGS)


def put_checkup(*, session: Session, principal: InstitutionPrincipal, checkup_id: str, body: CheckupIn) -> PutResult:
    institution_id = principal.institution_id
    for panel in body.lab_panels:
        if panel.local_patient_id != body.local_patient_id:
            raise BadRequest("A lab panel of a checkup must be for the same patient.", code="panel-patient-mismatch",
                             report_id=panel.report_id)
    checkup = session.exec(
        select(Checkup).where(Checkup.institution_id == institution_id, Checkup.checkup_id == checkup_id)
    ).first()

    def new() -> Checkup:
        return Checkup(institution_id=institution_id, checkup_id=checkup_id, local_patient_id=body.local_patient_id,
                       package_name=body.package_name, status=body.status, exam_date=body.exam_date)

    def apply(row: Checkup) -> str | None:
        row.local_patient_id = body.local_patient_id
        row.package_name = body.package_name
        row.status = body.status
        row.exam_date = body.exam_date
        row.reported_at = body.reported_at
        row.chief_physician = body.chief_physician
        row.sections = [s.model_dump(mode="json") for s in body.sections]
        row.conclusions = list(body.conclusions)
        row.recommendations = list(body.recommendations)
        row.abnormal_count = abnormal_count(body)
        session.add(row)
        session.flush()
        entry = records.sync(session=session, kind=KIND, ref_id=row.id)
        return entry.person_id if entry else None

    stored = put_versioned(
        session, principal=principal, kind=KIND, event_type="checkup.put", existing=checkup, new=new,
        content=body.model_dump(mode="json"), status=body.status, apply=apply,
        unchanged_person=lambda row: person_on_timeline(session, kind=KIND, ref_id=row.id),
    )
    lab_ids = []
    for panel in body.lab_panels:
        lab_body = LabReportIn.model_validate(panel.model_dump(exclude={"report_id"}))
        lab = labs.put_lab_report(session=session, principal=principal, report_id=panel.report_id, body=lab_body,
                                  checkup_id=stored.row.id)
        lab_ids.append(lab.row.id)
    return PutResult(stored=stored, lab_ids=lab_ids)


def read_checkup(*, session: Session, access: PersonAccess, checkup_id: str) -> CheckupOut:
    """One checkup with its lab panels (those only when the reader's access covers lab results)."""
    records.require_entry(session=session, access=access, kind=KIND, ref_id=checkup_id)
    checkup = session.get(Checkup, checkup_id)
    if checkup is None:
        raise NotFound("No such record.", zh="未找到该记录", code="record-not-found")
    panels = labs.labs_of_checkup(session=session, checkup_id=checkup.id) if access.allows_kind(labs.KIND) else []
    access.audit(session, event_type="checkup.read", object_type=KIND, object_id=checkup.id)
    names = records.institution_names(session=session, ids={checkup.institution_id})
    return CheckupOut(
        id=checkup.id, checkup_id=checkup.checkup_id, package_name=checkup.package_name, status=checkup.status,
        exam_date=checkup.exam_date, reported_at=checkup.reported_at, chief_physician=checkup.chief_physician,
        institution=InstitutionRef(id=checkup.institution_id, name=names.get(checkup.institution_id)),
        sections=[SectionIn.model_validate(s) for s in checkup.sections], conclusions=checkup.conclusions,
        recommendations=checkup.recommendations, abnormal_count=checkup.abnormal_count, version=checkup.version,
        lab_panels=[labs.lab_detail(session, lab) for lab in panels],
    )
