"""Every fixture with pixel data renders frame 0, or fails with a stated reason (issue 4).

The manifest records, for each file, whether pydicom 3.0.2 + pylibjpeg decode it. A file that
decodes must render to a real JPEG; a deliberately malformed one must raise RenderError with a
reason and a Chinese message - never another exception.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pydicom
import pytest
from PIL import Image

from backend.rendering import DatasetFrameSource, RenderError, render

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"
MANIFEST = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))
PIXEL_FILES = [row for row in MANIFEST if row.get("has_pixels")]
MALFORMED = {"pydicom/MR_truncated.dcm", "pydicom/badVR.dcm", "pydicom/JPEG-lossy.dcm"}


def _load(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid values are the point of some fixtures
        return pydicom.dcmread(DATA / name, force=True)


def test_manifest_covers_the_fixture_set() -> None:
    assert len(PIXEL_FILES) >= 140
    assert {row["file"] for row in PIXEL_FILES if row["decode"] != "ok"} == MALFORMED


@pytest.mark.parametrize("row", PIXEL_FILES, ids=[row["file"] for row in PIXEL_FILES])
def test_fixture_renders_or_fails_with_reason(row: dict[str, object]) -> None:
    name = str(row["file"])
    ds = _load(name)
    if row["decode"] != "ok":
        with pytest.raises(RenderError) as caught:
            render(source=DatasetFrameSource(ds), frame=0, width=128)
        err = caught.value
        assert err.reason in {"decode_failed", "malformed_image"}
        assert err.message_en and err.message_zh
        assert any("\u4e00" <= ch <= "\u9fff" for ch in err.message_zh)
        return
    jpeg = render(source=DatasetFrameSource(ds), frame=0, width=128)
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG"
        columns = int(str(row["Columns"]))
        assert img.width == min(128, columns)
        assert img.mode in {"L", "RGB"}
        expected_mode = "L" if str(row["PhotometricInterpretation"]).startswith("MONOCHROME") else "RGB"
        assert img.mode == expected_mode
