"""A PDF's pages as images, for readers whose browser cannot show or save a PDF — WeChat's in-app
browser blocks downloads (issue 19 item 6). Rasterised by poppler's ``pdftoppm`` (Debian poppler-utils)
in a subprocess with a time limit; the bytes never touch a shared disk (a private temp file, removed).
The same PDF bytes give the same PNG, so the few most recent pages are kept in memory."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from backend.errors import NotFound, ServiceUnavailable

DPI = 110  # an A4 page 910 px wide: sharp on a phone, ~150 KB
TIMEOUT = 20  # seconds per page
MAX_PAGES = 50


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ServiceUnavailable("Page images are not available on this server.", code="pdf-pages-unavailable",
                                 zh="服务器暂不支持以图片显示报告，请下载 PDF 查看。")
    return found


@lru_cache(maxsize=16)
def page_count(data: bytes) -> int:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        # Our own PDF (rendered here), a fixed argument list, no shell.
        out = subprocess.run([_tool("pdfinfo"), f.name],  # noqa: S603
                             capture_output=True, timeout=TIMEOUT, check=False)
    m = re.search(rb"^Pages:\s+(\d+)", out.stdout, re.M)
    return min(int(m.group(1)), MAX_PAGES) if m else 0


@lru_cache(maxsize=16)
def _png(data: bytes, page: int) -> bytes:
    with tempfile.TemporaryDirectory(prefix="yunying-pages-") as tmp:
        src = Path(tmp) / "doc.pdf"
        src.write_bytes(data)
        # Fixed arguments, no shell. (Keep the arguments out of the noqa comment: once they sat in it,
        # and every page was rendered as page 1 at the default resolution.)
        args = [_tool("pdftoppm"), "-png", "-r", str(DPI), "-f", str(page), "-l", str(page), "-singlefile",
                str(src), str(Path(tmp) / "page")]
        out = subprocess.run(args, capture_output=True, timeout=TIMEOUT, check=False)  # noqa: S603
        image = Path(tmp) / "page.png"
        if out.returncode != 0 or not image.is_file():
            raise NotFound("No such page.", zh="没有这一页", code="page-not-found")
        return image.read_bytes()


def page_png(data: bytes, page: int) -> bytes:
    """Page ``page`` (1-based) as PNG; a page the document does not have is a 404."""
    if not 1 <= page <= min(MAX_PAGES, page_count(data)):  # pdftoppm would clamp to the last page
        raise NotFound("No such page.", zh="没有这一页", code="page-not-found")
    return _png(data, page)
