"""The ``imaging_study`` record kind: an imaging study with its series and diagnostic report.

Ingest calls :func:`study_changed` after it stores instances of a study (or links it to a person);
that attaches waiting reports and refreshes the timeline entry.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from backend.people.models import Person
from backend.people.service import Joined
from backend.records import registry
from backend.records import service as records
from backend.records.models import TimelineEntry
from backend.reports import service as reports
from backend.reports.models import DiagnosticReport
from backend.studies.models import Series, Study

KIND = "imaging_study"
# Objects that are not images of the body: they never name a study on the timeline or in priors.
NON_IMAGE_MODALITIES = frozenset({"SR", "PR", "KO", "SEG", "REG", "DOC", "OT", "RWV"})
MODALITY_ZH = {
    "CT": "CT", "MR": "磁共振", "CR": "X线", "DX": "X线", "DR": "X线", "US": "超声", "MG": "乳腺钼靶",
    "NM": "核医学", "PT": "PET", "XA": "血管造影", "RF": "透视", "ES": "内镜",
}
STATUS_ZH = {"preliminary": "初步报告", "final": "已出报告", "amended": "报告已更正", None: "报告未出"}


def modalities(study: Study) -> list[str]:
    return [m for m in (study.modalities or "").split("\\") if m]


def image_modalities(study: Study) -> list[str]:
    return [m for m in modalities(study) if m not in NON_IMAGE_MODALITIES]


def occurred_at(study: Study) -> datetime:
    if study.study_datetime:
        return study.study_datetime
    if study.study_date:
        return records.as_utc(datetime.combine(study.study_date, time(12, 0)))  # date only: midday CST
    return study.first_received_at.astimezone(UTC)


def title(study: Study) -> str:
    if study.description:
        return study.description
    mods = image_modalities(study) or modalities(study)
    label = " ".join(MODALITY_ZH.get(m, m) for m in mods) or "影像检查"
    return f"{label} {study.body_part}" if study.body_part else label


def latest_report(session: Session, study_id: str) -> DiagnosticReport | None:
    found = reports.reports_for_study(session=session, study_id=study_id)
    return found[0] if found else None


def summarize(*, session: Session, ref_id: str) -> registry.EntrySummary | None:
    study = session.get(Study, ref_id)
    if study is None:
        return None
    report = latest_report(session, study.id)
    impression = (report.impression.strip().splitlines() or [""])[0] if report else ""
    return registry.EntrySummary(
        occurred_at=occurred_at(study),
        # The RIS's exam item (检查项目) is the name patients know; the DICOM description is the fallback.
        title=report.exam_items[0] if report and report.exam_items else title(study),
        summary=impression[:200] if report else STATUS_ZH[None],
        status=report.status if report else "no_report",
        institution_id=study.institution_id,
        local_patient_id=study.local_patient_id,
        person_id=study.person_id,
        tags=modalities(study),
        data={
            "modalities": modalities(study),
            "body_part": study.body_part,
            "series_count": study.series_count,
            "instance_count": study.instance_count,
            "has_report": report is not None,
            # The report's text is the hospital's (quoted as written); the platform's own words in English.
            "summary_en": None if report else "Report not yet available",
            "mutual_recognition_mark": report.mutual_recognition_mark if report else None,
        },
    )


def study_changed(*, session: Session, study: Study) -> None:
    """Ingest's hook: a study was stored or changed."""
    reports.attach(session=session, study=study)
    records.sync(session=session, kind=KIND, ref_id=study.id)


@dataclass(frozen=True, slots=True)
class Counted:
    """A study's row as ingest's UPDATE of its counters returned it."""

    id: str
    institution_id: str
    study_instance_uid: str
    accession_number: str | None
    person_id: str | None
    series_count: int
    instance_count: int


def study_counted(*, session: Session, study: Counted) -> bool:
    """Ingest's hook for a batch that only added instances to series the study had: of what
    :func:`summarize` derives, only the counts changed, so the entry's counts are set without loading
    the study, its reports and the entry (records.set_counts). Returns False, having written nothing,
    when more may change — a report waits for the study (:func:`study_changed` attaches it), the study
    is on nobody's timeline yet (``sync`` looks its person up again), or the entry is not the study's
    person's — and :func:`study_changed` must run instead."""
    if study.person_id is None or reports.any_waiting(
            session=session, institution_id=study.institution_id, study_instance_uid=study.study_instance_uid,
            accession_number=study.accession_number):
        return False
    return records.set_counts(session=session, kind=KIND, ref_id=study.id, person_id=study.person_id,
                              counts={"series_count": study.series_count, "instance_count": study.instance_count})


def detail_path(person_id: str, study_id: str) -> str:
    return f"/api/v1/people/{person_id}/studies/{study_id}"


# FHIR R4 mapping. Terminologies: DICOM modalities (DCM, PS3.16 CID 29), LOINC 18748-4
# "Diagnostic imaging study" and category LP29684-5 "Radiology" as in the US Core / IHE profiles.
DCM = "http://dicom.nema.org/resources/ontology/DCM"
_FHIR_REPORT_STATUS = {"preliminary": "preliminary", "final": "final", "amended": "amended"}


def _instant(moment: datetime) -> str:
    return records.as_utc(moment).isoformat()


def _imaging_study(session: Session, study: Study, patient_ref: str) -> dict[str, Any]:
    series = series_of(session, study.id)
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": study.id,
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_instance_uid}"}],
        "status": "available",
        "subject": {"reference": patient_ref},
        "started": _instant(occurred_at(study)),
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s.instance_count for s in series),
        "modality": [{"system": DCM, "code": m} for m in modalities(study)],
    }
    if study.accession_number:
        resource["identifier"].append({"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
            "value": study.accession_number})
    if study.description:
        resource["description"] = study.description
    if series:
        resource["series"] = [{
            "uid": s.series_instance_uid,
            **({"number": s.series_number} if s.series_number is not None else {}),
            "modality": {"system": DCM, "code": s.modality or "OT"},
            **({"description": s.description} if s.description else {}),
            "numberOfInstances": s.instance_count,
            **({"bodySite": {"display": s.body_part}} if s.body_part else {}),
        } for s in series]
    return resource


def _diagnostic_report(report: DiagnosticReport, study: Study, patient_ref: str) -> dict[str, Any]:
    text = f"检查所见：\n{report.findings}\n\n诊断意见：\n{report.impression}"
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": report.id,
        "status": _FHIR_REPORT_STATUS.get(report.status, "unknown"),
        "category": [{"coding": [{"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "18748-4",
                             "display": "Diagnostic imaging study"}],
                 "text": "、".join(report.exam_items) or title(study)},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": _instant(occurred_at(study)),
        "issued": _instant(report.reported_at),
        "imagingStudy": [{"reference": f"ImagingStudy/{study.id}"}],
        "conclusion": report.impression,
        "presentedForm": [{"contentType": "text/plain; charset=utf-8", "language": "zh-CN",
                           "data": base64.b64encode(text.encode()).decode(), "title": "诊断报告"}],
    }
    if report.reporting_physician:
        resource["performer"] = [{"display": report.reporting_physician}]
    if report.reviewing_physician:
        resource["resultsInterpreter"] = [{"display": report.reviewing_physician}]
    return resource


def fhir_resources(*, session: Session, ref_ids: Sequence[str], patient_ref: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for study_id in ref_ids:
        study = session.get(Study, study_id)
        if study is None:
            continue
        out.append(_imaging_study(session, study, patient_ref))
        out.extend(_diagnostic_report(r, study, patient_ref)
                   for r in reports.reports_for_study(session=session, study_id=study.id))
    return out


def series_of(session: Session, study_id: str) -> list[Series]:
    return list(session.exec(
        select(Series).where(Series.study_id == study_id)
        .order_by(col(Series.series_number).is_(None), col(Series.series_number), col(Series.created_at))
    ).all())


RECORD_KIND = registry.RecordKind(
    name=KIND, label_zh="影像检查", label_en="Imaging study", summarize=summarize, detail_path=detail_path,
    fhir=fhir_resources, filters=frozenset({"modality"}),
)


def join_studies_by_resident_id(*, session: Session, institution_id: str, local_patient_id: str,
                                person_id: str) -> list[Joined]:
    """Studies from any hospital whose header carried this person's resident ID (CN-RID) join the
    timeline too; the generic records hook covers the (institution, local ID) ones."""
    del institution_id, local_patient_id
    index = session.exec(select(Person.resident_id_index).where(Person.id == person_id)).first()
    if not index:
        return []
    study_ids = select(Study.id).where(Study.resident_id_index == index)
    session.execute(
        sa.update(TimelineEntry)
        .where(col(TimelineEntry.kind) == KIND, col(TimelineEntry.person_id).is_(None),
               col(TimelineEntry.ref_id).in_(study_ids))
        .values(person_id=person_id)
    )
    return []  # entries only: the studies themselves are announced by match_waiting_studies
