"""From the database to the documents' contexts (documents.py): what each PDF prints.

Reads only; the caller has already decided access (``records.require_entry`` through the policy).
The resident ID is never decrypted: the masked form comes from the stored first/last four digits.
Key images are not loaded here (they cost a decode): ``service`` chooses and renders them only when
the PDF is not cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from backend.checkups.models import Checkup
from backend.clock import CST
from backend.labs import record_kind as lab_kind
from backend.labs.models import LabItem as LabItemRow
from backend.labs.models import LabReport as LabReportRow
from backend.pdf.documents import (
    MAX_SUMMARY_ENTRIES,
    CheckupItem,
    CheckupPanel,
    CheckupReport,
    CheckupSection,
    HealthSummary,
    ImagingReport,
    LabFlag,
    LabItem,
    LabReport,
    PatientInfo,
    RecordKind,
    SummaryEntry,
)
from backend.people.masking import person_resident_id
from backend.people.models import Person
from backend.records import service as records
from backend.records.models import TimelineEntry
from backend.reports.models import DiagnosticReport
from backend.studies import record_kind as imaging_kind
from backend.studies.models import Study

# DICOM PS3.16 Annex L body part examined (0018,0015) → the words on a Chinese report.
BODY_PART_ZH = {
    "HEAD": "头部", "BRAIN": "颅脑", "SKULL": "颅骨", "NECK": "颈部", "CSPINE": "颈椎", "TSPINE": "胸椎",
    "LSPINE": "腰椎", "SPINE": "脊柱", "CHEST": "胸部", "LUNG": "肺部", "HEART": "心脏", "BREAST": "乳腺",
    "ABDOMEN": "腹部", "LIVER": "肝脏", "KIDNEY": "肾脏", "PELVIS": "盆腔", "ABDOMENPELVIS": "腹盆腔",
    "SHOULDER": "肩关节", "ELBOW": "肘关节", "WRIST": "腕关节", "HAND": "手", "HIP": "髋关节", "KNEE": "膝关节",
    "ANKLE": "踝关节", "FOOT": "足", "EXTREMITY": "四肢", "THYROID": "甲状腺", "WHOLEBODY": "全身",
}
_LAB_FLAGS = {"H": LabFlag.HIGH, "L": LabFlag.LOW, "HH": LabFlag.CRITICAL_HIGH, "LL": LabFlag.CRITICAL_LOW,
              "A": LabFlag.ABNORMAL, "N": LabFlag.NORMAL}
_SUMMARY_KINDS: dict[str, RecordKind] = {"imaging_study": "imaging_study", "lab_result": "lab_result",
                                         "checkup": "checkup"}


def masked_resident_id(person: Person) -> str | None:
    if not (person.resident_id_prefix and person.resident_id_last4):
        return None
    return person_resident_id(person)


def _age(birth: date | None, at: datetime | date | None) -> int | None:
    if birth is None or at is None:
        return None
    day = at.astimezone(CST).date() if isinstance(at, datetime) and at.tzinfo else (
        at.date() if isinstance(at, datetime) else at)
    years = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    return years if years >= 0 else None


def patient_info(person: Person, *, at: datetime | date | None, local_patient_id: str | None) -> PatientInfo:
    sex = person.sex if person.sex in ("M", "F", "O") else None
    return PatientInfo(name=person.name, sex=sex, age=_age(person.birth_date, at),  # type: ignore[arg-type]
                       masked_resident_id=masked_resident_id(person), local_patient_id=local_patient_id)


def china_time(moment: datetime) -> datetime:
    """Aware times in Beijing time: the file name's date (naming.py formats the value as given) must be
    the exam's local date, like the one printed on the report (render._format_datetime)."""
    return moment.astimezone(CST) if moment.tzinfo else moment


def china_date(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    return (moment.astimezone(CST) if moment.tzinfo else moment).date()


@dataclass(frozen=True, slots=True)
class ImagingSource:
    report: ImagingReport  # without key images
    version: int
    status: str


def imaging_source(*, session: Session, person: Person, study: Study, report: DiagnosticReport,
                   lang: str) -> ImagingSource:
    names = records.institution_names(session=session, ids={study.institution_id})
    exam_time = china_time(imaging_kind.occurred_at(study))
    mods = imaging_kind.image_modalities(study) or imaging_kind.modalities(study) or ["OT"]
    body = (study.body_part or "").strip().upper()
    body_text = (BODY_PART_ZH.get(body, study.body_part or "") if lang != "en" else body.title()) or "-"
    exam_item = "、".join(report.exam_items) if report.exam_items else imaging_kind.title(study)
    doc = ImagingReport(
        hospital_name=names.get(study.institution_id) or study.institution_name or "-",
        exam_item=exam_item, modality=mods[0], body_part=body_text,
        exam_time=exam_time, report_time=china_time(report.reviewed_at or report.reported_at),
        patient=patient_info(person, at=exam_time, local_patient_id=study.local_patient_id or report.local_patient_id),
        findings=report.findings, impression=report.impression,
        reporting_physician=report.reporting_physician or "-", reviewing_physician=report.reviewing_physician,
        accession_number=study.accession_number or report.accession_number,
        mutual_recognition_mark=report.mutual_recognition_mark,
    )
    return ImagingSource(report=doc, version=report.version, status=report.status)


def _lab_flag(row: LabItemRow) -> LabFlag:
    if row.flag == "critical":  # a critical value without a direction: infer it from the range
        if row.value_num is not None and row.ref_high is not None and row.value_num > row.ref_high:
            return LabFlag.CRITICAL_HIGH
        if row.value_num is not None and row.ref_low is not None and row.value_num < row.ref_low:
            return LabFlag.CRITICAL_LOW
        return LabFlag.ABNORMAL
    return _LAB_FLAGS.get((row.flag or "N").upper(), LabFlag.ABNORMAL)


def _reference(row: LabItemRow) -> str | None:
    if row.ref_text:
        return row.ref_text
    if row.ref_low is not None and row.ref_high is not None:
        return f"{row.ref_low:g}-{row.ref_high:g}"
    return None


def lab_source(*, session: Session, person: Person, lab: LabReportRow) -> LabReport:
    names = records.institution_names(session=session, ids={lab.institution_id})
    items = [LabItem(name=i.name, value=i.value_text, unit=i.unit, reference_range=_reference(i), flag=_lab_flag(i),
                     code=i.code) for i in lab_kind.items_of(session, lab.id)]
    return LabReport(
        hospital_name=names.get(lab.institution_id) or "-", title=lab.panel_name,
        patient=patient_info(person, at=lab.collected_at or lab.reported_at, local_patient_id=lab.local_patient_id),
        items=items, specimen=lab.specimen, sample_id=lab.report_id, department=lab.department,
        collected_at=lab.collected_at and china_time(lab.collected_at), reported_at=china_time(lab.reported_at),
        tested_by=lab.reporting_physician,
        reviewed_by=lab.reviewing_physician, mutual_recognition_mark=lab.mutual_recognition_mark,
    )


def _flagged(entry: TimelineEntry) -> bool:
    data = entry.data or {}
    return bool(data.get("abnormal_count")) or bool(data.get("critical"))


def summary_source(*, session: Session, person: Person, clauses: list[Any]) -> HealthSummary:
    """The person's timeline as the access allows it (``clauses`` from ``records.access_clauses``)."""
    rows = session.exec(
        select(TimelineEntry).where(*clauses).order_by(col(TimelineEntry.sort_key).desc()).limit(MAX_SUMMARY_ENTRIES)
    ).all()
    names = records.institution_names(session=session, ids={r.institution_id for r in rows if r.institution_id})
    entries = [SummaryEntry(
        date=china_date(r.occurred_at) or date.min, kind=_SUMMARY_KINDS.get(r.kind, "other"), title=r.title,
        institution=names.get(r.institution_id or "", "-"), summary=r.summary or None, flagged=_flagged(r),
    ) for r in rows]
    dates = [e.date for e in entries]
    return HealthSummary(patient=patient_info(person, at=max(dates) if dates else None, local_patient_id=None),
                         entries=entries, period_start=min(dates) if dates else None,
                         period_end=max(dates) if dates else None)


def checkup_source(*, session: Session, person: Person, checkup: Checkup, with_labs: bool) -> CheckupReport:
    """The checkup as printed; its lab panels only when the reader's access covers lab results."""
    names = records.institution_names(session=session, ids={checkup.institution_id})
    sections = [CheckupSection(
        name=str(s.get("name") or "-"), doctor=s.get("doctor"), summary=s.get("summary"),
        items=tuple(CheckupItem(name=str(i.get("name") or "-"), result=str(i.get("result") or ""), unit=i.get("unit"),
                                reference=i.get("reference"),
                                flag=_LAB_FLAGS.get(str(i.get("flag") or "N").upper(), LabFlag.ABNORMAL))
                    for i in s.get("items") or []),
    ) for s in checkup.sections]
    panels = []
    if with_labs:
        labs = session.exec(select(LabReportRow).where(LabReportRow.checkup_id == checkup.id)
                            .order_by(col(LabReportRow.reported_at))).all()
        for lab in labs:
            panels.append(CheckupPanel(title=lab.panel_name, items=tuple(
                LabItem(name=i.name, value=i.value_text, unit=i.unit, reference_range=_reference(i),
                        flag=_lab_flag(i), code=i.code) for i in lab_kind.items_of(session, lab.id))))
    return CheckupReport(
        hospital_name=names.get(checkup.institution_id) or "-", package_name=checkup.package_name,
        patient=patient_info(person, at=checkup.exam_date, local_patient_id=checkup.local_patient_id),
        exam_date=china_time(checkup.exam_date), checkup_id=checkup.checkup_id,
        reported_at=checkup.reported_at and china_time(checkup.reported_at), chief_physician=checkup.chief_physician,
        conclusions=tuple(checkup.conclusions), recommendations=tuple(checkup.recommendations),
        sections=tuple(sections), panels=tuple(panels), abnormal_count=checkup.abnormal_count,
    )
