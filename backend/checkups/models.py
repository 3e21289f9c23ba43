"""Checkups (体检): one package of examinations with the chief physician's conclusions.

Sections (一般检查、内科、外科、眼科、心电图 …) are kept as sent (JSON); lab panels of the checkup are
stored as lab results (``lab_report.checkup_id``) so they also feed the trends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class Checkup(SQLModel, table=True):
    __tablename__ = "checkup"
    __table_args__ = (sa.UniqueConstraint("institution_id", "checkup_id", name="uq_checkup_institution_checkup"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=32)
    checkup_id: str = Field(max_length=64)  # the hospital's checkup number
    local_patient_id: str = Field(max_length=64)
    package_name: str = Field(max_length=128)  # 套餐, e.g. 中老年男性体检套餐
    status: str = Field(max_length=16)
    exam_date: datetime
    reported_at: datetime | None = None
    chief_physician: str | None = Field(default=None, max_length=64)  # 主检医师
    sections: list[dict[str, Any]] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    conclusions: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    recommendations: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    abnormal_count: int = 0
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
