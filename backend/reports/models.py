"""Diagnostic reports (诊断报告): the radiologist's findings and impression for one exam, as data.

A report is keyed per hospital by its accession number (检查号, DICOM (0008,0050)) or, when the RIS
has none, by the StudyInstanceUID. It may arrive before or after its images: ``study_id`` is filled
in whenever both are present (see ``service.attach``). Every distinct version a hospital sent is
kept in ``record_revision`` (kind ``diagnostic_report``), so amendments keep their history.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class DiagnosticReport(SQLModel, table=True):
    __tablename__ = "diagnostic_report"
    __table_args__ = (
        sa.UniqueConstraint("institution_id", "accession_number", name="uq_report_institution_accession"),
        sa.UniqueConstraint("institution_id", "study_instance_uid", name="uq_report_institution_study_uid"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=32)
    accession_number: str | None = Field(default=None, max_length=64)
    study_instance_uid: str | None = Field(default=None, max_length=64)
    study_id: str | None = Field(default=None, foreign_key="imaging_study.id", index=True, max_length=32)
    local_patient_id: str | None = Field(default=None, max_length=64)

    status: str = Field(max_length=16)  # preliminary / final / amended (FHIR DiagnosticReport.status)
    exam_items: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    findings: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))  # 检查所见
    impression: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))  # 诊断意见
    reporting_physician: str | None = Field(default=None, max_length=64)  # 报告医师
    reviewing_physician: str | None = Field(default=None, max_length=64)  # 审核医师
    reported_at: datetime
    reviewed_at: datetime | None = None
    # 互认标识: the mark of the province's mutual-recognition programme (e.g. "苏HR"), when given.
    mutual_recognition_mark: str | None = Field(default=None, max_length=32)

    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
