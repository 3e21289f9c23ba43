"""Geometry, presets, encoders and scrub strips."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from backend.rendering import DatasetFrameSource, pack_scrub_strips, presets_for, render, render_array
from backend.rendering.encode import encode
from backend.rendering.geometry import output_size, snap_width
from backend.rendering.params import pixel_aspect
from backend.rendering.presets import auto_window

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"


def _load(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(DATA / name, force=True)


def test_output_size_corrects_aspect_and_never_upscales() -> None:
    assert output_size(rows=512, columns=512, pixel_aspect=1.0, width=256) == (256, 256)
    # Pixels twice as tall as wide: drawn twice as tall.
    assert output_size(rows=100, columns=200, pixel_aspect=2.0, width=None) == (200, 200)
    assert output_size(rows=64, columns=64, pixel_aspect=1.0, width=512) == (64, 64)
    assert output_size(rows=4000, columns=3000, pixel_aspect=1.0, width=None) == (2048, 2731)
    assert [snap_width(w) for w in (100, 128, 300, 1000, 5000, None)] == [128, 128, 512, 1024, None, None]


def test_pixel_aspect_sources() -> None:
    assert pixel_aspect(_load("pydicom/CT_small.dcm")) == 1.0
    assert pixel_aspect(_load("pydicom-data/RG1_J2KI.dcm")) == 1.0  # PixelSpacing 0\0: unknown -> square
    ds = _load("pydicom/CT_small.dcm")
    ds.PixelSpacing = [1.0, 0.5]
    assert pixel_aspect(ds) == 2.0
    del ds.PixelSpacing
    ds.PixelAspectRatio = [3, 2]
    assert pixel_aspect(ds) == 1.5


def test_downsampled_preview_keeps_the_picture() -> None:
    """512 -> 128 with Lanczos: the small image equals a box-averaged version within a few levels."""
    src = DatasetFrameSource(_load("dcmqi/ct-3slice/02.dcm"))
    pixels, info = src.frame(0)
    full = render_array(pixels=pixels, info=info, width=None).astype(np.float64)
    small = render_array(pixels=pixels, info=info, width=128).astype(np.float64)
    assert small.shape == (128, 128)
    boxed = full.reshape(128, 4, 128, 4).mean(axis=(1, 3))
    assert float(np.abs(small - boxed).mean()) < 4.0


def test_ct_presets_have_chinese_and_english_names() -> None:
    _, info = DatasetFrameSource(_load("dcmqi/ct-3slice/01.dcm")).frame(0)
    presets = {p.id: p for p in presets_for(info)}
    assert presets["lung"].name_zh == "肺窗" and presets["lung"].window is not None
    assert (presets["lung"].window.center, presets["lung"].window.width) == (-600.0, 1500.0)
    assert {"mediastinum", "bone", "brain", "abdomen", "auto", "file-0"} <= presets.keys()
    assert presets["bone"].name_zh == "骨窗" and presets["brain"].name_zh == "脑窗"
    _, mr = DatasetFrameSource(_load("pydicom/MR_small.dcm")).frame(0)
    assert "lung" not in {p.id for p in presets_for(mr)}  # HU presets only make sense for CT


def test_auto_window_spans_the_bulk_of_an_mr_without_window() -> None:
    ds = _load("dcm_qa_stc/GE_mr_0004/axial_epi_fmri_interleaved_i_to_s-00001.dcm")
    for keyword in ("WindowCenter", "WindowWidth"):
        if keyword in ds:
            delattr(ds, keyword)
    pixels, info = DatasetFrameSource(ds).frame(0)
    assert not info.grey.windows
    window = auto_window(info, pixels)
    lo, hi = np.percentile(pixels, [1, 99])
    tolerance = 0.01 * (hi - lo)  # histogram percentiles are nearest-rank, numpy's interpolate
    assert window.center - window.width / 2 == pytest.approx(lo, abs=tolerance)
    assert window.center + window.width / 2 == pytest.approx(hi, abs=tolerance)
    image = render_array(pixels=pixels, info=info, width=None)
    assert image.min() == 0 and image.max() == 255


def test_auto_window_excludes_padding() -> None:
    """CT with padding -2000 outside the circle: the automatic window must not stretch to -2000."""
    ds = _load("dcmqi/ct-3slice/01.dcm")
    pixels, info = DatasetFrameSource(ds).frame(0)
    window = auto_window(info, pixels)
    assert window.center - window.width / 2 > -1100  # lowest real values are air (-1000 HU)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_encoders_produce_decodable_images(fmt: str) -> None:
    data = render(source=DatasetFrameSource(_load("dcmqi/ct-3slice/02.dcm")), width=512, fmt=fmt, quality=80)  # type: ignore[arg-type]
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == fmt.upper() and img.size == (512, 512)
    assert 5_000 < len(data) < 150_000
    colour = encode(np.zeros((16, 16, 3), dtype=np.uint8), fmt="jpeg", quality=95)
    assert colour[:2] == b"\xff\xd8"
    with pytest.raises(ValueError, match="quality"):
        encode(np.zeros((4, 4), dtype=np.uint8), fmt="jpeg", quality=0)


def test_scrub_strips_for_300_ct_slices_fit_the_budget() -> None:
    """300 frames of a 512x512 CT at 96 px: every frame addressable, all sheets well under 2.5 MB.
    The three real slices are cycled with a per-frame shift so that tiles differ like a real series."""
    frames = []
    for i in range(3):
        pixels, info = DatasetFrameSource(_load(f"dcmqi/ct-3slice/0{i + 1}.dcm")).frame(0)
        frames.append(render_array(pixels=pixels, info=info, width=96))
    tiles = [np.roll(frames[i % 3], shift=i // 3, axis=0) for i in range(300)]
    strips = pack_scrub_strips(frames=tiles, quality=70)
    layout = json.loads(json.dumps(strips.layout))  # JSON-able
    assert layout["frame_count"] == 300 and len(layout["frames"]) == 300
    assert strips.total_bytes < 2_500_000 / 2
    assert len(strips.sheets) <= 2
    # Frame 137 is where the layout says, and looks like the tile we packed (JPEG-close).
    sheet, x, y = layout["frames"][137]
    with Image.open(io.BytesIO(strips.sheets[sheet])) as img:
        assert img.size == (layout["sheets"][sheet]["width"], layout["sheets"][sheet]["height"])
        tile = np.asarray(img)[y : y + 96, x : x + 96].astype(np.float64)
    assert float(np.abs(tile - tiles[137]).mean()) < 6.0
    assert float(np.abs(tile - tiles[138]).mean()) > float(np.abs(tile - tiles[137]).mean())
    positions = {tuple(p) for p in layout["frames"]}
    assert len(positions) == 300


def test_scrub_cells_align_to_jpeg_blocks() -> None:
    strips = pack_scrub_strips(frames=[np.full((50, 70), 200, dtype=np.uint8)] * 5, max_sheet_side=256)
    assert strips.layout["cell"] == {"width": 80, "height": 64}
    assert strips.layout["tile"] == {"width": 70, "height": 50}
    assert strips.layout["columns"] == 3


def test_window_query_parameter() -> None:
    from backend.rendering import Window, window_from_query

    assert window_from_query("40,400") == Window(40.0, 400.0)
    assert window_from_query("-600, 1500, sigmoid") == Window(-600.0, 1500.0, "SIGMOID")
    assert window_from_query("40,0.5,linear-exact").function == "LINEAR_EXACT"
    for bad in ("40", "a,b", "40,0", "40,400,cubic", "40,0.5", "nan,400", "1,2,3,4"):
        with pytest.raises(ValueError):
            window_from_query(bad)


def test_render_accepts_a_dataset_directly() -> None:
    data = render(source=_load("pydicom/CT_small.dcm"), width=128)
    assert data[:2] == b"\xff\xd8"
