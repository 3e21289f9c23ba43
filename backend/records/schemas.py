"""Timeline responses.

A timeline item's ``data`` is what its kind's ``summarize`` put there (records/registry.py,
``EntrySummary.data``). The built-in kinds' shapes are declared here, one item model per kind, so the
OpenAPI description types ``data`` as a union discriminated by ``kind`` and the PWA's generated client
knows each card's fields. A kind without a model here (a plug-in, the fourth kind of
tests/records/test_custom_kind.py) still shows: its items fall through to ``OtherTimelineItem``, whose
``data`` is a free-form object — the records core never needs to import a kind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backend.clock import CST

# Plausible record times. Outside them a timestamp is an error, and at the calendar's edges (0001-01-01 CST,
# 9999-12-31 UTC-14) converting it to UTC would overflow (DESIGN rule 3: a 422, not a 500).
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _assume_china_time(value: datetime) -> datetime:
    """Hospital systems in the province send local time; a timestamp without an offset is CST (UTC+8)."""
    aware = value.replace(tzinfo=CST) if value.tzinfo is None else value
    if not _EARLIEST <= aware < _LATEST:  # aware comparisons never overflow; conversions can
        raise ValueError("timestamp must be between 1900 and 2999")
    return aware


# Use for every timestamp a hospital sends: stored values are always timezone-aware.
HospitalDatetime = Annotated[datetime, AfterValidator(_assume_china_time)]


class InstitutionRef(BaseModel):
    id: str
    name: str | None = None


KindT = TypeVar("KindT", bound=str)
DataT = TypeVar("DataT")


class TimelineItemOf(BaseModel, Generic[KindT, DataT]):
    """The fields every kind's item has; each kind's model fixes ``kind`` and the shape of ``data``."""

    id: str
    kind: KindT
    kind_label: str
    kind_label_en: str
    ref_id: str
    occurred_at: datetime
    title: str
    summary: str
    status: str | None
    institution: InstitutionRef | None
    detail_url: str | None
    data: DataT


# A key the model does not name makes the typed variant fail, so the item falls back to OtherTimelineItem
# with its data untouched: a kind's summarize may grow a field before its model does, never losing it.
_EXACT = ConfigDict(extra="forbid")


class StudyTimelineData(BaseModel):
    """``imaging_study`` (backend/studies/record_kind.py ``summarize``)."""

    model_config = _EXACT

    modalities: list[str]  # DICOM (0008,0061) Modalities in Study, every one incl. SR/PR/SEG
    body_part: str | None
    series_count: int
    instance_count: int
    has_report: bool
    mutual_recognition_mark: str | None  # 互认标识 of the report, when the hospital sent one
    summary_en: str | None  # the platform's summary in English when it wrote one (no report yet)


class LabTimelineData(BaseModel):
    """``lab_result`` (backend/labs/record_kind.py ``summarize``)."""

    model_config = _EXACT

    abnormal_count: int
    item_count: int
    critical: bool  # a critical value (危急值) among the items
    specimen: str | None
    mutual_recognition_mark: str | None
    checkup_id: str | None  # the checkup this panel belongs to, if any
    summary_en: str | None  # the summary line in English (issue 19 item 7)


class CheckupTimelineData(BaseModel):
    """``checkup`` (backend/checkups/record_kind.py ``summarize``)."""

    model_config = _EXACT

    conclusion_count: int
    abnormal_count: int
    section_count: int
    summary_en: str | None  # the summary line in English (issue 19 item 7)


class StudyTimelineItem(TimelineItemOf[Literal["imaging_study"], StudyTimelineData]):
    pass


class LabTimelineItem(TimelineItemOf[Literal["lab_result"], LabTimelineData]):
    pass


class CheckupTimelineItem(TimelineItemOf[Literal["checkup"], CheckupTimelineData]):
    pass


class OtherTimelineItem(TimelineItemOf[str, dict[str, Any]]):
    """A kind without a declared ``data`` shape: ``data`` is passed through as its kind wrote it."""


# The built-in kinds, discriminated by ``kind`` (OpenAPI ``discriminator`` with a mapping) …
TypedTimelineItem = Annotated[StudyTimelineItem | LabTimelineItem | CheckupTimelineItem,
                              Field(discriminator="kind")]
# … and every other kind after them. Pydantic tries the typed union first (left to right): an item of a
# built-in kind goes out through its model; another kind's item (or a row whose data no longer fits its
# model) keeps its data as written. tests/records/test_timeline_schema.py keeps summarize and models equal.
TimelineItem = Annotated[TypedTimelineItem | OtherTimelineItem, Field(union_mode="left_to_right")]


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
