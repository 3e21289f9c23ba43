"""What the preview endpoints answer in JSON: a series' preview links and the scrub answer.

The images themselves are JPEG/WebP (router.py); these models only describe the JSON around them so
the OpenAPI description (and the PWA's generated client) types them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict  # pydantic needs this TypedDict on Python < 3.12


class SeriesPreviews(TypedDict, total=False):
    """Named preview URLs of one series in the study detail (urls.series_view): all four for a
    series with images, none (``{}``) for one without (an SR, a segmentation)."""

    thumbnail: str  # 128 px wide, middle frame, default window; a placeholder image when it cannot render
    preview: str  # 512 px wide JPEG of the middle frame, default window
    preview_webp: str  # the same as WebP
    scrub: str  # the scrub answer (ScrubAnswer) in the default window


class PixelSize(BaseModel):
    width: int
    height: int


class ScrubSheet(BaseModel):
    width: int
    height: int
    first_frame: int
    count: int


class WindowChoice(BaseModel):
    id: str  # a window id as previews/spec.py parses it: "default", "auto", a CT preset …
    name_zh: str
    name_en: str


class PreviewFormats(BaseModel):
    """Format name -> the extension to put for ``{ext}`` in a frame URL."""

    jpeg: str
    webp: str


class ScrubAnswer(BaseModel):
    """``GET …/series/{series_id}/scrub?window=``: the layout of the series' scrub strips
    (rendering/scrub.py ``pack_scrub_strips``, jobs.py ``pack_series_strips``) and the URLs to draw
    the series with."""

    # Exactly these keys: tests/previews/test_schemas.py validates real answers against this model.
    model_config = ConfigDict(extra="forbid")

    version: int
    format: str  # "jpeg": the sheets' encoding
    frame_count: int
    tile: PixelSize  # a frame's size on a sheet
    cell: PixelSize  # the stride on a sheet: the tile rounded up to the 16 px JPEG MCU
    columns: int
    sheets: list[ScrubSheet]
    frames: list[tuple[int, int, int]]  # frames[i] = (sheet index, x, y) of frame i's top-left
    failed_frames: list[int]  # frames that could not be rendered: a black tile (jobs.pack_series_strips)
    total_bytes: int  # the sheets' size together
    key: str  # the series' content key in this window (also the answer's ETag)
    window: str
    sheet_urls: list[str]
    widths: list[str]  # the preview widths the server renders: "128" … "1024", and "full"
    formats: PreviewFormats
    windows: list[WindowChoice]  # the windows this series offers
    frame_urls: list[str]  # one per frame, with {window}, {width} and {ext} for the client to fill in
