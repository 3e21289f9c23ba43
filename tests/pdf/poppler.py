"""Thin wrappers over poppler-utils (pdftotext, pdffonts, pdfinfo, pdfdetach) for the PDF tests.

poppler-utils is a Debian package (`apt-get install poppler-utils`). Where it is missing the tests
that need it are skipped — except under CI (CI=true), where a missing tool is a failure, so an
absent install step cannot turn the suite silently green.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = ("pdftotext", "pdffonts", "pdfinfo", "pdfdetach")


def require_poppler() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"poppler-utils missing ({', '.join(missing)}): apt-get install poppler-utils"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def write(tmp_path: Path, pdf: bytes, name: str = "doc.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(pdf)
    return path


def text(path: Path, *, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return _run("pdftotext", "-enc", "UTF-8", *pages, str(path), "-")


def page_count(path: Path) -> int:
    match = re.search(r"^Pages:\s+(\d+)$", _run("pdfinfo", str(path)), re.MULTILINE)
    assert match, "pdfinfo printed no page count"
    return int(match.group(1))


@dataclass(frozen=True)
class FontRow:
    name: str
    type: str
    embedded: bool
    subset: bool


def fonts(path: Path) -> list[FontRow]:
    """Rows of `pdffonts`: the columns are fixed-width, found from the dashes under the header."""
    lines = _run("pdffonts", str(path)).splitlines()
    widths = [len(dashes) for dashes in lines[1].split(" ")]
    rows = []
    for line in lines[2:]:
        cells, start = [], 0
        for width in widths:
            cells.append(line[start : start + width].strip())
            start += width + 1
        rows.append(FontRow(name=cells[0], type=cells[1], embedded=cells[3] == "yes", subset=cells[4] == "yes"))
    return rows


def attachments(path: Path) -> str:
    return _run("pdfdetach", "-list", str(path))


def decompressed_streams(pdf: bytes) -> list[bytes]:
    """Every stream of the file, inflated where it is Flate-compressed (WeasyPrint's default)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        raw = match.group(1)
        try:
            out.append(zlib.decompressobj().decompress(raw))
        except zlib.error:
            out.append(raw)
    return out
