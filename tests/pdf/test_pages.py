"""The PDF's pages as images (backend/pdf/pages.py): each page number gives that page, at the stated
resolution — not page 1 again at poppler's default."""

from __future__ import annotations

import io

from PIL import Image

from backend.pdf import pages, render
from tests.pdf import poppler


def test_each_page_is_its_own_image_at_the_stated_resolution() -> None:
    poppler.require_poppler()
    html = ('<link rel="stylesheet" href="print.css"><p style="font-size:40pt">第一页</p>'
            '<p style="page-break-before:always;font-size:40pt;margin-top:300px">第二页 second</p>')
    data = render.html_to_pdf(html, refused=[])
    assert pages.page_count(data) == 2
    first, second = pages.page_png(data, 1), pages.page_png(data, 2)
    assert first != second
    width = Image.open(io.BytesIO(first)).size[0]
    assert abs(width - round(210 / 25.4 * pages.DPI)) <= 2  # A4 is 210 mm wide
