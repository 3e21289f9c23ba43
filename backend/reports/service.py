"""Storing diagnostic reports from a hospital's RIS and matching them to their studies.

Matching rule: a report and a study belong together when they come from the same institution and
share the accession number (0008,0050) or the StudyInstanceUID (0020,000D). Whichever arrives second
makes the match: :func:`put_report` looks for the study, and :func:`attach` (called when a study is
stored) looks for waiting reports. Nothing is dropped while the other half is missing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, and_, bindparam, or_
from sqlmodel import Session, col, select

from backend.access.principals import InstitutionPrincipal
from backend.errors import BadRequest, Conflict, NotFound
from backend.jobs import service as outbox
from backend.records import service as records
from backend.records.models import RecordRevision
from backend.records.upsert import Stored, put_versioned
from backend.reports.models import DiagnosticReport
from backend.reports.schemas import ReportIn
from backend.studies.models import Study

REVISION_KIND = "diagnostic_report"
STUDY_KIND = "imaging_study"
_FINAL = {"final", "amended"}
PDF_DEBOUNCE = timedelta(seconds=5)  # a report is often sent twice in a row (preliminary, then final)


def _content(body: ReportIn) -> dict[str, object]:
    return body.model_dump(mode="json")


def find_report(
    *, session: Session, institution_id: str, accession_number: str | None, study_instance_uid: str | None
) -> DiagnosticReport | None:
    base = select(DiagnosticReport).where(DiagnosticReport.institution_id == institution_id)
    if accession_number:
        return session.exec(base.where(DiagnosticReport.accession_number == accession_number)).first()
    if study_instance_uid:
        return session.exec(base.where(DiagnosticReport.study_instance_uid == study_instance_uid)).first()
    return None


def _find_study(session: Session, report: DiagnosticReport) -> Study | None:
    keys = []
    if report.study_instance_uid:
        keys.append(col(Study.study_instance_uid) == report.study_instance_uid)
    if report.accession_number:
        keys.append(col(Study.accession_number) == report.accession_number)
    if not keys:
        return None
    candidates = session.exec(
        select(Study).where(Study.institution_id == report.institution_id, or_(*keys))
    ).all()
    # The UID is exact; an accession number could in theory be reused by a RIS: prefer the UID.
    for study in candidates:
        if report.study_instance_uid and study.study_instance_uid == report.study_instance_uid:
            return study
    return candidates[0] if candidates else None


def _check_keys_free(
    *, session: Session, institution_id: str, report: DiagnosticReport | None, accession: str | None, uid: str | None
) -> None:
    """Each key names at most one report per hospital (the table's unique constraints): a key already held
    by another report is a 409 here, before any change, not an IntegrityError at flush (DESIGN rule 3)."""
    for key_accession, key_uid, message, code in (
        (accession, None, "This accession number already belongs to another report.", "report-accession-conflict"),
        (None, uid, "This StudyInstanceUID already belongs to another report.", "report-study-conflict"),
    ):
        if not (key_accession or key_uid):
            continue
        holder = find_report(session=session, institution_id=institution_id, accession_number=key_accession,
                             study_instance_uid=key_uid)
        if holder is not None and (report is None or holder.id != report.id):
            raise Conflict(message, code=code)


def put_report(
    *,
    session: Session,
    principal: InstitutionPrincipal,
    body: ReportIn,
    accession_number: str | None = None,
    study_instance_uid: str | None = None,
) -> Stored[DiagnosticReport]:
    """Creates or updates the report addressed by accession number or StudyInstanceUID (idempotent)."""
    institution_id = principal.institution_id
    accession = accession_number or body.accession_number
    uid = study_instance_uid or body.study_instance_uid
    if accession_number and body.accession_number and body.accession_number != accession_number:
        raise BadRequest("accession_number in the body differs from the path.", code="accession-mismatch")
    if study_instance_uid and body.study_instance_uid and body.study_instance_uid != study_instance_uid:
        raise BadRequest("study_instance_uid in the body differs from the path.", code="study-uid-mismatch")
    if not accession and not uid:
        raise BadRequest("A report needs an accession number or a StudyInstanceUID.", code="report-key-missing")
    body = body.model_copy(update={"accession_number": accession, "study_instance_uid": uid})

    report = find_report(session=session, institution_id=institution_id, accession_number=accession,
                         study_instance_uid=uid)
    if report is None and accession and uid:  # sent first by UID, now by accession (or the reverse)
        report = find_report(session=session, institution_id=institution_id, accession_number=None,
                             study_instance_uid=uid)
        if report is not None and report.accession_number not in (None, accession):
            report = None
    _check_keys_free(session=session, institution_id=institution_id, report=report, accession=accession, uid=uid)
    if report is not None:
        if report.status in _FINAL and body.status == "preliminary":
            raise Conflict("A final report cannot be replaced by a preliminary one; send status 'amended'.",
                           code="report-already-final", current_status=report.status)
        if report.study_instance_uid and uid and report.study_instance_uid != uid:
            raise Conflict("This accession number already belongs to another StudyInstanceUID.",
                           code="report-study-conflict")

    def apply(row: DiagnosticReport) -> str | None:
        row.accession_number = accession
        row.study_instance_uid = uid
        row.local_patient_id = body.local_patient_id or row.local_patient_id
        row.status = body.status
        row.exam_items = list(body.exam_items)
        row.findings = body.findings
        row.impression = body.impression
        row.reporting_physician = body.reporting_physician
        row.reviewing_physician = body.reviewing_physician
        row.reported_at = body.reported_at
        row.reviewed_at = body.reviewed_at
        row.mutual_recognition_mark = body.mutual_recognition_mark
        study = _find_study(session, row)
        row.study_id = study.id if study else row.study_id
        session.add(row)
        session.flush()
        if row.study_id:
            records.sync(session=session, kind=STUDY_KIND, ref_id=row.study_id)
            # Its PDF is pre-rendered in the background (backend/pdf/prerender.py), once this commits.
            outbox.enqueue(session, kind=outbox.PDF, key=row.study_id, delay=PDF_DEBOUNCE)
        return _person_of(session, row)

    return put_versioned(
        session, principal=principal, kind=REVISION_KIND, event_type="report.put", existing=report,
        new=lambda: DiagnosticReport(institution_id=institution_id, status=body.status, reported_at=body.reported_at),
        content=_content(body), status=body.status, apply=apply,
        unchanged_person=lambda row: _person_of(session, row), audit_detail=lambda row: {"status": row.status},
    )


def _person_of(session: Session, report: DiagnosticReport) -> str | None:
    study = session.get(Study, report.study_id) if report.study_id else None
    return study.person_id if study else None


def _waiting_for(*, by_accession: bool) -> ColumnElement[bool]:
    """Reports of an institution that wait for a study (no study yet) with its UID or, ``by_accession``,
    its accession number. Parameters: institution, uid, accession. Built once for both cases: ingest asks
    in every batch, and building the criteria cost more than running the query."""
    keys = [col(DiagnosticReport.study_instance_uid) == bindparam("uid")]
    if by_accession:
        keys.append(col(DiagnosticReport.accession_number) == bindparam("accession"))
    return and_(col(DiagnosticReport.institution_id) == bindparam("institution"),
                col(DiagnosticReport.study_id).is_(None), or_(*keys))


_WAITING = {by_accession: _waiting_for(by_accession=by_accession) for by_accession in (False, True)}
_ANY_WAITING = {by_accession: select(col(DiagnosticReport.id)).where(waiting).limit(1)
                for by_accession, waiting in _WAITING.items()}


def attach(*, session: Session, study: Study) -> list[DiagnosticReport]:
    """A study was stored: reports that were waiting for it (same institution, accession or UID)
    point at it from now on. Returns the study's reports."""
    waiting = session.exec(
        select(DiagnosticReport).where(_WAITING[bool(study.accession_number)]),
        params={"institution": study.institution_id, "uid": study.study_instance_uid,
                "accession": study.accession_number},
    ).all()
    for report in waiting:
        report.study_id = study.id
        session.add(report)
    session.flush()
    return reports_for_study(session=session, study_id=study.id)


def any_waiting(*, session: Session, institution_id: str, study_instance_uid: str,
                accession_number: str | None) -> bool:
    """Whether :func:`attach` would find a report for this study: one row looked for, none loaded."""
    parameters = {"institution": institution_id, "uid": study_instance_uid, "accession": accession_number}
    return session.connection().execute(_ANY_WAITING[bool(accession_number)], parameters).first() is not None


def reports_for_study(*, session: Session, study_id: str) -> list[DiagnosticReport]:
    """The study's reports, most recently reported first."""
    return list(session.exec(
        select(DiagnosticReport)
        .where(DiagnosticReport.study_id == study_id)
        .order_by(col(DiagnosticReport.reported_at).desc())
    ).all())


def institution_report(
    *, session: Session, institution_id: str, accession_number: str | None, study_instance_uid: str | None
) -> DiagnosticReport:
    """A hospital reads back a report it sent (and only its own)."""
    report = find_report(session=session, institution_id=institution_id, accession_number=accession_number,
                         study_instance_uid=study_instance_uid)
    if report is None:
        raise NotFound("No such report.", zh="未找到该报告", code="report-not-found")
    return report


def versions(*, session: Session, report_id: str) -> list[RecordRevision]:
    return records.revisions(session=session, kind=REVISION_KIND, ref_id=report_id)
