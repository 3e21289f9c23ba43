"""Lab report bodies (from a hospital's LIS) and the person-facing responses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.records.schemas import HospitalDatetime, InstitutionRef

# N normal, H/L high/low, HH/LL far out of range, critical (危急值), A abnormal without direction.
Flag = Literal["N", "H", "L", "HH", "LL", "critical", "A"]
_FLAG_ALIASES = {"↑": "H", "↓": "L", "高": "H", "低": "L", "偏高": "H", "偏低": "L", "危急": "critical",
                 "PANIC": "critical", "CRITICAL": "critical", "阳性": "A", "异常": "A", "": None, "正常": "N"}


class LabItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str | None = Field(default=None, max_length=32)
    loinc: str | None = Field(default=None, max_length=16, pattern=r"^\d{1,7}-\d$")
    name: str = Field(min_length=1, max_length=128)
    # A number or text ("阴性", "+", ">1000"): text is kept as sent, never dropped.
    value: str | float | int = Field(union_mode="left_to_right")
    unit: str | None = Field(default=None, max_length=32)
    reference_range: str | None = Field(default=None, max_length=128)  # "3.9-6.1", "<3.4", "阴性"
    ref_low: float | None = None
    ref_high: float | None = None
    flag: Flag | None = None

    @field_validator("flag", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped in _FLAG_ALIASES:
                return _FLAG_ALIASES[stripped]
            if stripped.upper() in _FLAG_ALIASES:
                return _FLAG_ALIASES[stripped.upper()]
            if stripped.upper() in {"H", "L", "HH", "LL", "N", "A"}:
                return stripped.upper()
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: str | float | int) -> str | float | int:
        if isinstance(value, str) and len(value) > 256:
            raise ValueError("value is longer than 256 characters")
        return value


class LabReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    local_patient_id: str = Field(min_length=1, max_length=64)
    panel_name: str = Field(min_length=1, max_length=128)
    specimen: str | None = Field(default=None, max_length=64)
    status: Literal["preliminary", "final", "amended"] = "final"
    collected_at: HospitalDatetime | None = None
    received_at: HospitalDatetime | None = None
    reported_at: HospitalDatetime
    department: str | None = Field(default=None, max_length=64)
    reporting_physician: str | None = Field(default=None, max_length=64)
    reviewing_physician: str | None = Field(default=None, max_length=64)
    mutual_recognition_mark: str | None = Field(default=None, max_length=32)
    items: list[LabItemIn] = Field(min_length=1, max_length=500)


class PutResult(BaseModel):
    id: str
    version: int
    changed: bool
    person_matched: bool


class LabItemOut(BaseModel):
    code: str | None
    loinc: str | None
    name: str
    value: str
    value_number: float | None
    unit: str | None
    reference_range: str | None
    ref_low: float | None
    ref_high: float | None
    flag: str | None
    analyte: str | None


class LabReportOut(BaseModel):
    id: str
    report_id: str
    panel_name: str
    specimen: str | None
    status: str
    collected_at: datetime | None
    received_at: datetime | None
    reported_at: datetime
    department: str | None
    reporting_physician: str | None
    reviewing_physician: str | None
    mutual_recognition_mark: str | None
    institution: InstitutionRef
    abnormal_count: int
    checkup_id: str | None
    version: int
    items: list[LabItemOut]


class TrendPoint(BaseModel):
    at: datetime
    value: float | None  # in the trend's unit when convertible, else None (see value_text)
    value_text: str
    original_value: float | None
    original_unit: str | None
    ref_low: float | None
    ref_high: float | None
    flag: str | None
    item_name: str
    lab_id: str
    institution: InstitutionRef


class TrendResponse(BaseModel):
    code: str
    analyte: str | None
    name: str
    name_en: str
    unit: str | None
    points: list[TrendPoint]


class TrendAvailable(BaseModel):
    analyte: str
    name: str
    name_en: str
    unit: str
    count: int
    latest_at: datetime


class TrendIndex(BaseModel):
    items: list[TrendAvailable]
