"""What the API answers about a study: its detail (series, previews, report and its history) and priors."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from backend.previews.schemas import SeriesPreviews
from backend.records.schemas import InstitutionRef
from backend.reports.schemas import ReportOut


class SeriesOut(BaseModel):
    id: str
    series_instance_uid: str
    number: int | None
    description: str | None
    modality: str | None
    body_part: str | None
    instance_count: int
    image_count: int = Field(description="Images the viewer shows: frames of the image instances (a 30-frame "
                                         "clip is 30, a structured report 0) — what a series card counts")
    previews: SeriesPreviews


class ReportVersionInfo(BaseModel):
    version: int
    status: str | None
    received_at: datetime


class StudyDetail(BaseModel):
    id: str
    study_instance_uid: str
    accession_number: str | None
    occurred_at: datetime
    title: str
    description: str | None
    modalities: list[str]
    body_part: str | None
    referring_physician: str | None
    institution: InstitutionRef
    series: list[SeriesOut]
    report: ReportOut | None
    report_history: list[ReportVersionInfo]


class PriorStudy(BaseModel):
    id: str
    occurred_at: datetime
    title: str
    modalities: list[str]
    body_part: str | None
    institution: InstitutionRef
    has_report: bool
    detail_url: str


class PriorsResponse(BaseModel):
    study_id: str
    items: list[PriorStudy]
