"""Timeline responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel

_CST = timezone(timedelta(hours=8), "CST")


# Plausible record times. Outside them a timestamp is an error, and at the calendar's edges (0001-01-01 CST,
# 9999-12-31 UTC-14) converting it to UTC would overflow (DESIGN rule 3: a 422, not a 500).
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _assume_china_time(value: datetime) -> datetime:
    """Hospital systems in the province send local time; a timestamp without an offset is CST (UTC+8)."""
    aware = value.replace(tzinfo=_CST) if value.tzinfo is None else value
    if not _EARLIEST <= aware < _LATEST:  # aware comparisons never overflow; conversions can
        raise ValueError("timestamp must be between 1900 and 2999")
    return aware


# Use for every timestamp a hospital sends: stored values are always timezone-aware.
HospitalDatetime = Annotated[datetime, AfterValidator(_assume_china_time)]


class InstitutionRef(BaseModel):
    id: str
    name: str | None = None


class TimelineItem(BaseModel):
    id: str
    kind: str
    kind_label: str
    kind_label_en: str
    ref_id: str
    occurred_at: datetime
    title: str
    summary: str
    status: str | None
    institution: InstitutionRef | None
    detail_url: str | None
    data: dict[str, Any]


class Counts(BaseModel):
    total: int
    by_kind: dict[str, int]
    by_year: dict[str, int]


class TimelineResponse(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None
    counts: Counts | None = None  # on the first page only (no cursor): the UI's headers


class KindInfo(BaseModel):
    name: str
    label: str
    label_en: str
