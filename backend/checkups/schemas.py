"""Checkup bodies (from a hospital's health-examination system) and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.labs.schemas import Flag, LabReportIn, LabReportOut
from backend.records.schemas import HospitalDatetime, InstitutionRef


class SectionItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=128)  # 身高、血压、心电图 …
    result: str = Field(max_length=2000)
    unit: str | None = Field(default=None, max_length=32)
    reference: str | None = Field(default=None, max_length=128)
    flag: Flag | None = None


class SectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)  # 一般检查、内科、外科、眼科 …
    doctor: str | None = Field(default=None, max_length=64)
    items: list[SectionItemIn] = Field(default_factory=list, max_length=200)
    summary: str | None = Field(default=None, max_length=2000)  # 小结


class AttachedPanelIn(LabReportIn):
    report_id: str = Field(min_length=1, max_length=64)


class CheckupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    local_patient_id: str = Field(min_length=1, max_length=64)
    package_name: str = Field(min_length=1, max_length=128)
    status: Literal["preliminary", "final", "amended"] = "final"
    exam_date: HospitalDatetime
    reported_at: HospitalDatetime | None = None
    chief_physician: str | None = Field(default=None, max_length=64)
    sections: list[SectionIn] = Field(default_factory=list, max_length=50)
    conclusions: list[str] = Field(default_factory=list, max_length=100)  # 主检结论
    recommendations: list[str] = Field(default_factory=list, max_length=100)  # 健康建议
    lab_panels: list[AttachedPanelIn] = Field(default_factory=list, max_length=50)


class CheckupPutResult(BaseModel):
    id: str
    version: int
    changed: bool
    person_matched: bool
    lab_ids: list[str]


class CheckupOut(BaseModel):
    id: str
    checkup_id: str
    package_name: str
    status: str
    exam_date: datetime
    reported_at: datetime | None
    chief_physician: str | None
    institution: InstitutionRef
    sections: list[SectionIn]
    conclusions: list[str]
    recommendations: list[str]
    abnormal_count: int
    version: int
    lab_panels: list[LabReportOut]


class VitalPoint(BaseModel):
    at: datetime
    value: float
    checkup_id: str


class VitalSeries(BaseModel):
    key: str  # systolic / diastolic / weight / bmi
    name: str
    name_en: str
    unit: str
    ref_low: float | None
    ref_high: float | None
    points: list[VitalPoint]


class VitalsOut(BaseModel):
    series: list[VitalSeries]
