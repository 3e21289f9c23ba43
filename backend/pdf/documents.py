"""Typed contexts of the three PDF documents (what each template in ``reports/`` expects).

The templates read attributes of these objects; ``reports/README.md`` lists them field by field.
They hold plain display data (already decrypted and masked by the caller): the PDF package never
sees a full resident ID — ``PatientInfo`` refuses one — nor touches the database.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from backend.pdf.assets import MAX_DATA_URI_BYTES

# GB 11643-1999 citizen identification number: 17 digits + check character (digit or X).
_FULL_RESIDENT_ID = re.compile(r"\d{17}[\dXx]")
# DICOM PS3.5 §6.2 value representation AS (Age String): nnnD, nnnW, nnnM or nnnY.
_DICOM_AGE = re.compile(r"(\d{3})([DWMY])")
KEY_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_KEY_IMAGES = 4
# Bounds that keep one render to seconds, not minutes: ~100 pages of text, a long panel, 15+ years.
MAX_TEXT_CHARS = 200_000
MAX_LAB_ITEMS = 500
MAX_SUMMARY_ENTRIES = 5_000


def _check_text(**fields: str | None) -> None:
    for name, value in fields.items():
        if value is not None and len(value) > MAX_TEXT_CHARS:
            raise ValueError(f"{name} longer than {MAX_TEXT_CHARS} characters")


Sex = Literal["M", "F", "O"]  # DICOM PS3.3 C.7.1.1 Patient's Sex (0010,0040)


@dataclass(frozen=True, slots=True)
class PatientInfo:
    name: str
    sex: Sex | None = None
    # DICOM AS string ("064Y", "011M", "020D") as stored in (0010,1010), or whole years.
    age: str | int | None = None
    masked_resident_id: str | None = None  # e.g. "3201**********1234" (DESIGN.md rule 2)
    local_patient_id: str | None = None  # the hospital's MRN / 门诊号 / 住院号

    def __post_init__(self) -> None:
        rid = self.masked_resident_id
        if rid is not None and (_FULL_RESIDENT_ID.fullmatch(rid.strip()) or "*" not in rid):
            raise ValueError("masked_resident_id must be masked (e.g. 3201**********1234)")
        if isinstance(self.age, str) and not _DICOM_AGE.fullmatch(self.age):
            raise ValueError("age must be a DICOM AS string like '064Y' or an int of years")
        if self.sex is not None and self.sex not in ("M", "F", "O"):
            raise ValueError("sex must be M, F or O (DICOM PS3.3 C.7.1.1)")

    @property
    def age_parts(self) -> tuple[int, str] | None:
        """(number, unit D/W/M/Y) for the template's localised age."""
        if self.age is None:
            return None
        if isinstance(self.age, int):
            return (self.age, "Y")
        match = _DICOM_AGE.fullmatch(self.age)
        assert match is not None  # checked in __post_init__
        return (int(match.group(1)), match.group(2))


@dataclass(frozen=True, slots=True)
class KeyImage:
    """One key image: encoded bytes (a preview JPEG/PNG/WebP) and an optional caption."""

    data: bytes
    media_type: str = "image/jpeg"
    caption: str | None = None

    def __post_init__(self) -> None:
        if self.media_type not in KEY_IMAGE_TYPES:
            raise ValueError(f"key image type must be one of {sorted(KEY_IMAGE_TYPES)}")
        if not self.data or len(self.data) > MAX_DATA_URI_BYTES:
            raise ValueError("key image must be 1 byte .. 8 MiB")

    @classmethod
    def from_data_uri(cls, uri: str, *, caption: str | None = None) -> KeyImage:
        header, sep, payload = uri.partition(",")
        media_type = header.removeprefix("data:").removesuffix(";base64")
        if not sep or not header.startswith("data:") or not header.endswith(";base64"):
            raise ValueError("key image URI must be data:<image type>;base64,...")
        return cls(data=base64.b64decode(payload, validate=True), media_type=media_type, caption=caption)

    @property
    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class DocumentMeta:
    """What every document prints besides its content: the verification code and where to check it."""

    verification_code: str  # compact form from verification.make_code; printed grouped by four
    verification_url: str  # e.g. f"{public_url}/v/{code}", encoded in the QR code
    generated_at: datetime


@dataclass(frozen=True, slots=True)
class ImagingReport:
    hospital_name: str
    exam_item: str  # 检查项目, e.g. "胸部CT平扫"
    modality: str  # DICOM PS3.3 C.7.3.1.1.1 modality code: CT, MR, DX, CR, US, MG, PT, NM, XA, ...
    body_part: str  # 检查部位, display text ("胸部"), not the DICOM code string
    exam_time: datetime
    report_time: datetime
    patient: PatientInfo
    findings: str  # 检查所见 — plain text, line breaks kept
    impression: str  # 诊断意见 — plain text, line breaks kept
    reporting_physician: str
    reviewing_physician: str | None = None
    department: str | None = None  # 放射科 / 超声科 ...
    accession_number: str | None = None  # 检查号 (DICOM (0008,0050))
    mutual_recognition_mark: str | None = None  # 互认标识, e.g. "苏HR"
    key_images: Sequence[KeyImage] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_text(findings=self.findings, impression=self.impression)
        if len(self.key_images) > MAX_KEY_IMAGES:
            raise ValueError(f"at most {MAX_KEY_IMAGES} key images")
        if not all(isinstance(image, KeyImage) for image in self.key_images):
            raise TypeError("key_images must be KeyImage objects")


class LabFlag(StrEnum):
    """Abnormal flags, after HL7 v2 table 0078 (Interpretation Codes)."""

    NORMAL = "N"
    HIGH = "H"
    LOW = "L"
    CRITICAL_HIGH = "HH"  # 危急值, above the upper panic limit
    CRITICAL_LOW = "LL"  # 危急值, below the lower panic limit
    ABNORMAL = "A"  # abnormal, no direction (qualitative results, e.g. 阳性)

    @property
    def is_critical(self) -> bool:
        return self in (LabFlag.CRITICAL_HIGH, LabFlag.CRITICAL_LOW)


@dataclass(frozen=True, slots=True)
class LabItem:
    name: str  # 项目, e.g. "白细胞计数"
    value: str  # result as reported (keeps "<0.01", "阴性(-)", trailing zeros)
    unit: str | None = None  # "×10⁹/L", "mmol/L"
    reference_range: str | None = None  # "3.5-9.5"
    flag: LabFlag = LabFlag.NORMAL
    code: str | None = None  # abbreviation, e.g. "WBC"


@dataclass(frozen=True, slots=True)
class LabReport:
    hospital_name: str
    title: str  # 报告名称, e.g. "血常规" / "肝功能"
    patient: PatientInfo
    items: Sequence[LabItem]
    specimen: str | None = None  # 标本类型: 全血 / 血清 / 尿液
    sample_id: str | None = None  # 样本号 / 条码号
    department: str | None = None  # 申请科室
    ordering_physician: str | None = None  # 申请医生
    collected_at: datetime | None = None  # 采样时间
    reported_at: datetime | None = None  # 报告时间
    tested_by: str | None = None  # 检验者
    reviewed_by: str | None = None  # 审核者
    mutual_recognition_mark: str | None = None
    remarks: str | None = None

    def __post_init__(self) -> None:
        _check_text(remarks=self.remarks)
        if len(self.items) > MAX_LAB_ITEMS:
            raise ValueError(f"at most {MAX_LAB_ITEMS} lab items")


RecordKind = Literal["imaging_study", "lab_result", "checkup", "other"]


@dataclass(frozen=True, slots=True)
class SummaryEntry:
    """One record on the person's timeline."""

    date: date
    kind: RecordKind
    title: str  # "胸部CT平扫" / "血常规" / "年度体检"
    institution: str
    summary: str | None = None  # the impression or a one-line conclusion
    flagged: bool = False  # something abnormal worth a second look

    @property
    def year(self) -> int:
        return self.date.year


@dataclass(frozen=True, slots=True)
class HealthSummary:
    patient: PatientInfo
    entries: Sequence[SummaryEntry]
    period_start: date | None = None
    period_end: date | None = None
    prepared_for: str | None = None  # free text: "供转诊使用" / school / insurer

    def __post_init__(self) -> None:
        if len(self.entries) > MAX_SUMMARY_ENTRIES:
            raise ValueError(f"at most {MAX_SUMMARY_ENTRIES} entries")

    @property
    def entries_by_year(self) -> list[tuple[int, list[SummaryEntry]]]:
        """Newest year first, newest entry first within a year (the timeline's order)."""
        years: dict[int, list[SummaryEntry]] = {}
        for entry in sorted(self.entries, key=lambda e: e.date, reverse=True):
            years.setdefault(entry.year, []).append(entry)
        return list(years.items())


@dataclass(frozen=True, slots=True)
class CheckupItem:
    name: str  # 身高 / 血压 / 心电图
    result: str  # as reported ("146/92", "窦性心律，正常心电图")
    unit: str | None = None
    reference: str | None = None
    flag: LabFlag = LabFlag.NORMAL


@dataclass(frozen=True, slots=True)
class CheckupSection:
    name: str  # 一般检查 / 内科 / 眼科 / 心电图
    items: Sequence[CheckupItem] = ()
    doctor: str | None = None
    summary: str | None = None  # 小结


@dataclass(frozen=True, slots=True)
class CheckupPanel:
    """A lab panel of the checkup (printed only when the reader's access covers lab results)."""

    title: str
    items: Sequence[LabItem] = ()


@dataclass(frozen=True, slots=True)
class CheckupReport:
    """体检报告: the package, its sections, the chief physician's conclusions and advice."""

    hospital_name: str
    package_name: str  # 套餐, e.g. 中老年男性体检套餐
    patient: PatientInfo
    exam_date: datetime
    checkup_id: str | None = None  # 体检号
    reported_at: datetime | None = None
    chief_physician: str | None = None  # 主检医师
    conclusions: Sequence[str] = ()  # 主检结论
    recommendations: Sequence[str] = ()  # 健康建议
    sections: Sequence[CheckupSection] = ()
    panels: Sequence[CheckupPanel] = ()
    abnormal_count: int = 0

    def __post_init__(self) -> None:
        _check_text(**{f"conclusion{i}": c for i, c in enumerate(self.conclusions)},
                    **{f"advice{i}": c for i, c in enumerate(self.recommendations)})
        if sum(len(p.items) for p in self.panels) + sum(len(s.items) for s in self.sections) > MAX_LAB_ITEMS * 2:
            raise ValueError(f"at most {MAX_LAB_ITEMS * 2} checkup items")
