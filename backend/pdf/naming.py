"""Suggested download file names for the PDFs (pure).

The name is shown by the browser / WeChat when saving, so it is Chinese and descriptive
("张伟_胸部CT平扫_20261120.pdf"). Whoever builds the Content-Disposition header must still encode it
per RFC 6266 §4.3 / RFC 5987 (``filename*=UTF-8''…`` plus an ASCII ``filename=`` fallback):
``ascii_fallback`` gives the latter.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from backend.pdf.documents import CheckupReport, HealthSummary, ImagingReport, LabReport

MAX_STEM_CHARS = 80
# Path separators, characters Windows forbids in names, controls and quotes: never in a file name.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|;,\']+')


def _clean(part: str) -> str:
    text = unicodedata.normalize("NFC", part)
    text = _UNSAFE.sub(" ", text)
    return re.sub(r"\s+", "", text).strip(".")


def _stem(*parts: str, when: date | datetime | None) -> str:
    pieces = [p for p in (_clean(part) for part in parts) if p]
    if when is not None:
        pieces.append(when.strftime("%Y%m%d"))
    return "_".join(pieces)[:MAX_STEM_CHARS] or "report"


def imaging_filename(report: ImagingReport) -> str:
    return _stem(report.patient.name, report.exam_item, when=report.exam_time) + ".pdf"


def lab_filename(report: LabReport) -> str:
    return _stem(report.patient.name, report.title, when=report.collected_at or report.reported_at) + ".pdf"


def checkup_filename(report: CheckupReport, *, label: str = "体检报告") -> str:
    return _stem(report.patient.name, label, report.package_name, when=report.exam_date) + ".pdf"


def summary_filename(summary: HealthSummary, *, label: str = "健康档案摘要") -> str:
    return _stem(summary.patient.name, label, when=summary.period_end) + ".pdf"


def ascii_fallback(filename: str) -> str:
    """ASCII-only version for the plain ``filename=`` parameter (non-ASCII letters become "_")."""
    stem, dot, ext = filename.rpartition(".")
    ascii_stem = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9._-]+", "_", stem)).strip("_.") or "report"
    return f"{ascii_stem}{dot}{ext}" if dot else ascii_stem
