"""Every PDF the platform issued: its verification record and its place in the PDF cache.

One row per rendered document. ``id`` is the code's document id (``code[:16]``, 80 random bits);
``signature`` the rest of the code. The row keeps the platform's own copy of the key facts that the
public ``/v/{code}`` page shows (institution, title, date, masked patient name) — never more, since
that page needs no login — and the ``content_hash`` the code's HMAC signs.

``cache_key`` names the inputs (record, version, template fingerprint, language, key images …): a
second request with the same inputs is served the same file (by ``document_hash``) without
rendering. Rows are never deleted or updated when a report is amended: the amendment has another
cache key, so it gets a new row and a new code, and the old code still verifies as the earlier
version (the /v page then says a newer version exists).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class PdfDocument(SQLModel, table=True):
    __tablename__ = "pdf_document"
    __table_args__ = (
        sa.UniqueConstraint("cache_key", name="uq_pdf_document_cache_key"),
        sa.Index("ix_pdf_document_object", "kind", "object_id", "version"),
    )

    id: str = Field(primary_key=True, max_length=16)  # the code's document id (RFC 4648 base32)
    signature: str = Field(max_length=16)  # the code's truncated HMAC (verification.py)
    cache_key: str = Field(max_length=64)
    kind: str = Field(max_length=32)  # imaging_report / lab_report / health_summary
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    object_id: str = Field(max_length=64)  # study id / lab report id / person id (summary)
    version: int = 1  # the report's version (amendments count up); 1 for a summary
    lang: str = Field(max_length=8)
    content_hash: str = Field(max_length=80)  # what the code signs (hashing.content_hash)
    document_hash: str = Field(max_length=80)  # sha256 of the PDF bytes: the file name, the ETag
    size: int = 0
    filename: str = Field(max_length=200)  # suggested download name (naming.py)

    # The key facts shown on /v/{code}: the platform's copy, to compare with the paper.
    institution_name: str = Field(max_length=256)
    title: str = Field(max_length=256)  # 检查项目 / 报告名称 / 健康档案摘要
    document_date: date | None = None  # exam / collection date (China time)
    masked_patient_name: str = Field(max_length=64)
    report_status: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)  # printed as generated_at (reproducible re-render)
