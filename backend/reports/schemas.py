"""What a hospital's RIS sends for a diagnostic report, and what it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.records.schemas import HospitalDatetime

# DICOM UI: digits and dots, at most 64 characters (PS3.5 §6.2, §9.1).
UID_PATTERN = r"^[0-9]+(\.[0-9]+)*$"
ReportStatus = Literal["preliminary", "final", "amended"]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    study_instance_uid: str | None = Field(default=None, max_length=64, pattern=UID_PATTERN)
    accession_number: str | None = Field(default=None, min_length=1, max_length=64)
    local_patient_id: str | None = Field(default=None, min_length=1, max_length=64)
    status: ReportStatus
    exam_items: list[str] = Field(default_factory=list, max_length=50)  # 检查项目
    findings: str = Field(default="", max_length=20000)  # 检查所见
    impression: str = Field(min_length=1, max_length=10000)  # 诊断意见
    reporting_physician: str | None = Field(default=None, max_length=64)
    reviewing_physician: str | None = Field(default=None, max_length=64)
    reported_at: HospitalDatetime
    reviewed_at: HospitalDatetime | None = None
    mutual_recognition_mark: str | None = Field(default=None, max_length=32)


class ReportOut(BaseModel):
    id: str
    accession_number: str | None
    study_instance_uid: str | None
    status: str
    exam_items: list[str]
    findings: str
    impression: str
    reporting_physician: str | None
    reviewing_physician: str | None
    reported_at: datetime
    reviewed_at: datetime | None
    mutual_recognition_mark: str | None
    version: int


class ReportPutResult(BaseModel):
    id: str
    version: int
    changed: bool  # False: the same content was already stored (idempotent PUT)
    status: str
    study_id: str | None  # the matched study, once its images have arrived


class ReportVersionOut(BaseModel):
    version: int
    status: str | None
    received_at: datetime
    content: dict[str, object]
