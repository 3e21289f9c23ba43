"""Download names: Chinese, descriptive, and never a path or a header injection."""

from __future__ import annotations

from backend.pdf import naming
from tests.pdf import samples


def test_names_are_chinese_and_dated() -> None:
    assert naming.imaging_filename(samples.imaging_report()) == "张伟_胸部CT平扫_20261120.pdf"
    assert naming.lab_filename(samples.lab_report()) == "张伟_血常规+生化_20261120.pdf"
    assert naming.summary_filename(samples.health_summary()) == "张伟_健康档案摘要_20261127.pdf"


def test_hostile_exam_names_cannot_make_paths_or_break_headers() -> None:
    report = samples.imaging_report(exam_item='../../etc/passwd\r\nSet-Cookie: x="1"; \\CT')
    name = naming.imaging_filename(report)
    assert "/" not in name and "\\" not in name and "\r" not in name and "\n" not in name
    assert '"' not in name and ";" not in name and not name.startswith(".")
    assert name.endswith("_20261120.pdf")


def test_ascii_fallback() -> None:
    assert naming.ascii_fallback("张伟_胸部CT平扫_20261120.pdf") == "CT_20261120.pdf"
    assert naming.ascii_fallback("张伟.pdf") == "report.pdf"
