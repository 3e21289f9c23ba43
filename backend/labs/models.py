"""Lab results (化验): one panel from a hospital's LIS per row of ``lab_report``, its items below.

A value that is not a number ("阴性", "+", ">1000") is kept as text in ``value_text`` and never
dropped; ``value_num`` holds the number when there is one. ``analyte`` names the item across
hospitals (from LOINC or the mapping table in ``codes.py``) and ``norm_*`` carry the value in that
analyte's canonical unit, for trends.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class LabReport(SQLModel, table=True):
    __tablename__ = "lab_report"
    __table_args__ = (sa.UniqueConstraint("institution_id", "report_id", name="uq_lab_report_institution_report"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=32)
    report_id: str = Field(max_length=64)  # the LIS's own report number
    local_patient_id: str = Field(max_length=64)
    panel_name: str = Field(max_length=128)  # e.g. 生化全套
    specimen: str | None = Field(default=None, max_length=64)  # 血清、全血、尿 …
    status: str = Field(max_length=16)  # preliminary / final / amended
    collected_at: datetime | None = None  # 采样时间
    received_at: datetime | None = None  # 接收时间
    reported_at: datetime  # 报告时间
    department: str | None = Field(default=None, max_length=64)
    reporting_physician: str | None = Field(default=None, max_length=64)
    reviewing_physician: str | None = Field(default=None, max_length=64)
    mutual_recognition_mark: str | None = Field(default=None, max_length=32)
    checkup_id: str | None = Field(default=None, index=True, max_length=32)  # attached to a checkup
    abnormal_count: int = 0
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LabItem(SQLModel, table=True):
    __tablename__ = "lab_item"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    lab_report_id: str = Field(foreign_key="lab_report.id", index=True, max_length=32)
    seq: int
    code: str | None = Field(default=None, max_length=32)  # the hospital's item code
    loinc: str | None = Field(default=None, max_length=16)
    name: str = Field(max_length=128)
    value_text: str = Field(max_length=256)
    value_num: float | None = None
    unit: str | None = Field(default=None, max_length=32)
    ref_low: float | None = None
    ref_high: float | None = None
    ref_text: str | None = Field(default=None, max_length=128)
    flag: str | None = Field(default=None, max_length=8)  # H / L / HH / LL / critical / A (abnormal)
    analyte: str | None = Field(default=None, index=True, max_length=32)
    norm_value: float | None = None
    norm_unit: str | None = Field(default=None, max_length=32)
    norm_ref_low: float | None = None
    norm_ref_high: float | None = None
