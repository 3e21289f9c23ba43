"""Sample documents for the PDF tests, with key images made from the real CT fixture slices."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from backend.pdf.documents import (
    DocumentMeta,
    HealthSummary,
    ImagingReport,
    KeyImage,
    LabFlag,
    LabItem,
    LabReport,
    PatientInfo,
    SummaryEntry,
)

CT_DIR = Path(__file__).resolve().parents[1] / "data" / "dicom" / "dcmqi" / "ct-3slice"
CODE = "K7QX2M3PA4RTZ5BHJ3VCW6NDLE7FQY2S"

FINDINGS = (
    "胸廓对称，气管居中。双肺纹理清晰，右肺上叶尖段见一磨玻璃结节，大小约6mm×5mm，边界清楚。\n"
    "纵隔内未见明显肿大淋巴结，心影大小形态正常，主动脉壁可见少许钙化斑。\n"
    "双侧胸膜无增厚，胸腔未见积液。所见骨质未见明显异常，右侧腘窝及锁骨上区未见异常。"
)
IMPRESSION = "1. 右肺上叶磨玻璃结节（约6mm），建议12个月后复查胸部CT。\n2. 主动脉壁少许钙化。"


def window_to_jpeg(pixels: np.ndarray, *, center: float, width: float, size: int = 384) -> bytes:
    """Linear VOI window (DICOM PS3.3 C.11.2.1.2) to 8-bit, then a small JPEG like a preview."""
    low = center - width / 2
    scaled = np.clip((pixels - low) / width, 0.0, 1.0) * 255.0
    image = Image.fromarray(scaled.astype(np.uint8), mode="L").resize((size, size))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


@lru_cache(maxsize=1)
def ct_key_images() -> tuple[KeyImage, ...]:
    slices = []
    for path in sorted(CT_DIR.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        slices.append((int(ds.InstanceNumber), hu))
    slices.sort(key=lambda s: s[0])
    images = [
        KeyImage(data=window_to_jpeg(hu, center=40, width=400), caption=f"软组织窗 Im{number}") for number, hu in slices
    ]
    images.append(
        KeyImage(data=window_to_jpeg(slices[0][1], center=-600, width=1500), caption=f"肺窗 Im{slices[0][0]}")
    )
    return tuple(images[:4])


def patient() -> PatientInfo:
    return PatientInfo(
        name="张伟",
        sex="M",
        age="064Y",
        masked_resident_id="3201**********0013",
        local_patient_id="MZ20260012345",
    )


def doc_meta(code: str = CODE) -> DocumentMeta:
    return DocumentMeta(
        verification_code=code,
        verification_url=f"https://yunying.example.cn/v/{code}",
        generated_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
    )


def imaging_report(**overrides: object) -> ImagingReport:
    fields: dict[str, object] = {
        "hospital_name": "南京市第一人民医院",
        "department": "医学影像科",
        "exam_item": "胸部CT平扫",
        "modality": "CT",
        "body_part": "胸部",
        "exam_time": datetime(2026, 11, 20, 9, 12),
        "report_time": datetime(2026, 11, 20, 10, 41),
        "accession_number": "CT202611200087",
        "patient": patient(),
        "findings": FINDINGS,
        "impression": IMPRESSION,
        "reporting_physician": "李明",
        "reviewing_physician": "王建国",
        "mutual_recognition_mark": "苏HR",
        "key_images": ct_key_images(),
    }
    fields.update(overrides)
    return ImagingReport(**fields)  # type: ignore[arg-type]


def lab_report() -> LabReport:
    items = [
        LabItem(
            name="白细胞计数", code="WBC", value="11.2", unit="×10⁹/L", reference_range="3.5-9.5", flag=LabFlag.HIGH
        ),
        LabItem(
            name="中性粒细胞百分比", code="NEUT%", value="78.4", unit="%", reference_range="40-75", flag=LabFlag.HIGH
        ),
        LabItem(
            name="淋巴细胞百分比", code="LYMPH%", value="15.1", unit="%", reference_range="20-50", flag=LabFlag.LOW
        ),
        LabItem(name="红细胞计数", code="RBC", value="4.62", unit="×10¹²/L", reference_range="4.3-5.8"),
        LabItem(name="血红蛋白", code="HGB", value="138", unit="g/L", reference_range="130-175"),
        LabItem(
            name="血小板计数",
            code="PLT",
            value="28",
            unit="×10⁹/L",
            reference_range="125-350",
            flag=LabFlag.CRITICAL_LOW,
        ),
        LabItem(
            name="血钾", code="K", value="6.9", unit="mmol/L", reference_range="3.5-5.3", flag=LabFlag.CRITICAL_HIGH
        ),
        LabItem(name="C反应蛋白", code="CRP", value="<0.5", unit="mg/L", reference_range="0-10"),
        LabItem(name="乙型肝炎表面抗原", code="HBsAg", value="阳性(+)", reference_range="阴性", flag=LabFlag.ABNORMAL),
    ]
    return LabReport(
        hospital_name="南京市第一人民医院",
        title="血常规+生化",
        patient=patient(),
        items=items,
        specimen="全血/血清",
        sample_id="2611200456",
        department="呼吸内科门诊",
        ordering_physician="陈静",
        collected_at=datetime(2026, 11, 20, 8, 5),
        reported_at=datetime(2026, 11, 20, 11, 30),
        tested_by="赵磊",
        reviewed_by="孙丽",
        mutual_recognition_mark="苏HR",
    )


def health_summary() -> HealthSummary:
    entries = [
        SummaryEntry(
            date=date(2026, 11, 20),
            kind="imaging_study",
            title="胸部CT平扫",
            institution="南京市第一人民医院",
            summary="右肺上叶磨玻璃结节（约6mm）",
            flagged=True,
        ),
        SummaryEntry(
            date=date(2026, 11, 20),
            kind="lab_result",
            title="血常规+生化",
            institution="南京市第一人民医院",
            summary="白细胞偏高，血小板危急值",
            flagged=True,
        ),
        SummaryEntry(
            date=date(2025, 6, 3),
            kind="checkup",
            title="年度健康体检",
            institution="江苏省人民医院",
            summary="血压偏高，建议随访",
        ),
        SummaryEntry(
            date=date(2023, 3, 15),
            kind="imaging_study",
            title="腰椎MR平扫",
            institution="南京鼓楼医院",
            summary="L4/5椎间盘轻度膨出",
        ),
        SummaryEntry(
            date=date(2016, 9, 1),
            kind="imaging_study",
            title="胸部DR正位",
            institution="南京市第一人民医院",
            summary="心肺膈未见明显异常",
        ),
    ]
    return HealthSummary(
        patient=patient(),
        entries=entries,
        period_start=date(2016, 1, 1),
        period_end=date(2026, 11, 27),
        prepared_for="转诊就医",
    )
