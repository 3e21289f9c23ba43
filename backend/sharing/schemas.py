"""Shapes of the share API (CONTRACT.md: POST/GET /api/v1/people/{person_id}/shares, DELETE /api/v1/shares/{id})."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from backend.records.schemas import InstitutionRef

Preset = Literal["1h", "24h", "72h", "7d"]
# A preset, or custom seconds: at least 5 minutes, at most 30 days (enforced in the service, so the
# problem detail can say it in Chinese).
ExpiresIn = Preset | Annotated[int, Field(ge=1)]


class ShareCreate(BaseModel):
    study_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(default=None, max_length=500)
    all: bool = False  # every imaging study of the person (between date_from and date_to when given)
    date_from: date | None = None
    date_to: date | None = None
    include_reports: bool = True
    expires_in: ExpiresIn = "24h"
    with_access_code: bool = False
    max_opens: int | None = Field(default=None, ge=1, le=1000)
    allow_download: bool = False
    note: str | None = Field(default=None, max_length=500)
    recipient: str | None = Field(default=None, max_length=64, description="who it is for, e.g. 鼓楼医院 王医生")


class ShareLink(BaseModel):
    """An active share's link and QR code, shown again to the patient (never its access code)."""

    url: str
    qr_svg: str
    qr_png: str


class ShareCodeReset(BaseModel):
    access_code: str  # the new code, shown once: the old one stops working at once


class ShareCreated(BaseModel):
    id: str
    url: str
    access_code: str | None  # shown once: only its hash is kept
    expires_at: datetime
    study_ids: list[str]
    qr_svg: str  # the URL as a QR code, an SVG document
    qr_png: str  # the same as a data: URI (image/png)


class ShareExtend(BaseModel):
    expires_in: ExpiresIn
    max_opens: int | None = Field(default=None, ge=1, le=1000)  # raise the limit of a used-up share


class ShareOpen(BaseModel):
    at: datetime
    user_agent: str | None


class ShareView(BaseModel):
    at: datetime
    event_type: str  # share.open, study.read, series.view, share.download, dicom.wado …
    object_type: str | None
    object_id: str | None
    user_agent: str | None


class ShareOut(BaseModel):
    id: str
    status: Literal["active", "expired", "revoked", "used_up"]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    scope: str
    date_from: date | None
    date_to: date | None
    study_ids: list[str]
    include_reports: bool
    allow_download: bool
    has_access_code: bool
    max_opens: int | None
    opens: int
    first_opened_at: datetime | None
    note: str | None
    recipient: str | None
    can_show_link: bool  # active and made since links are kept (as ciphertext) for showing again
    open_log: list[ShareOpen]
    views: list[ShareView]


class ShareList(BaseModel):
    items: list[ShareOut]


class SessionCreate(BaseModel):
    access_code: str | None = Field(default=None, max_length=16)


class SessionCreated(BaseModel):
    redirect: str
    expires_at: datetime


class SharedPatient(BaseModel):
    name: str
    name_masked: str
    sex: str | None
    age: int | None
    resident_id_masked: str | None


class SharedStudy(BaseModel):
    id: str
    occurred_at: datetime
    title: str
    modalities: list[str]
    body_part: str | None
    institution: InstitutionRef
    has_report: bool
    detail_url: str
    report_pdf_url: str | None
    download_url: str | None


class ShareSessionOut(BaseModel):
    share_id: str
    person_id: str
    patient: SharedPatient
    studies: list[SharedStudy]
    note: str | None
    include_reports: bool
    allow_download: bool
    download_all_url: str | None
    expires_at: datetime  # when this sitting ends (the share's own expiry or the session's, earlier)
