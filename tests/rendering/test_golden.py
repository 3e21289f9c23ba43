"""Golden checks: our grey levels against an independent reference (pydicom's own LUT functions).

Reference = pydicom `apply_modality_lut` then `apply_voi_lut` (window or VOI LUT Sequence), scaled
explicitly to 0..255 over the output range pydicom uses (found by pushing -inf/+inf-like values
through the same function), inverted for MONOCHROME1. Requirement (issue 4): mean absolute
difference <= 2 grey levels after the same window.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from backend.rendering import DatasetFrameSource, Window, find_preset
from backend.rendering import to_display as render_full_size

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"


def _load(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(DATA / name, force=True)


def reference(ds: pydicom.Dataset, window: Window | None) -> np.ndarray:
    """pydicom's pipeline on a fresh copy of the header, scaled to 0..255."""
    ds = pydicom.dcmread(ds.filename, force=True)  # independent header copy
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window.center, window.width
        ds.VOILUTFunction = window.function
        if "VOILUTSequence" in ds:
            del ds.VOILUTSequence
    stored = ds.pixel_array
    modality = apply_modality_lut(stored, ds)
    out = apply_voi_lut(modality, ds).astype(np.float64)
    bounds = apply_voi_lut(np.array([-1e7, 1e7]), ds).astype(np.float64)
    if "VOILUTSequence" in ds and window is None:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        bounds = np.array([0.0, 2.0**bits - 1])
    unit = (out - bounds[0]) / (bounds[1] - bounds[0])
    if ds.PhotometricInterpretation == "MONOCHROME1":
        unit = 1.0 - unit
    return np.rint(np.clip(unit, 0, 1) * 255.0)


def ours(ds: pydicom.Dataset, window: Window | None) -> tuple[np.ndarray, np.ndarray]:
    pixels, info = DatasetFrameSource(ds).frame(0)
    image = render_full_size(pixels, info, voi=window).astype(np.float64)
    padding = np.zeros(pixels.shape, dtype=bool)
    if info.grey.padding is not None:
        lo, hi = sorted(info.grey.padding)
        padding = (pixels >= lo) & (pixels <= hi)
    return image, padding


CASES = [
    # (file, window or preset id; None = the file's own default VOI)
    ("pydicom/CT_small.dcm", "mediastinum"),
    ("pydicom/CT_small.dcm", "lung"),
    ("dcmqi/ct-3slice/01.dcm", "mediastinum"),
    ("dcmqi/ct-3slice/02.dcm", "bone"),
    ("dcmqi/ct-3slice/03.dcm", None),  # the file's own window (40/400)
    ("pydicom/MR_small.dcm", None),  # file window 600/1600
    ("dcm_qa_ts/1.dcm", None),  # Siemens MR, file window 763/1639
    ("pydicom-data/RG1_J2KI.dcm", None),  # MONOCHROME1 CR, J2K lossy
    ("pydicom-data/RG3_J2KR.dcm", Window(512.0, 1024.0)),  # MONOCHROME1 CR, J2K lossless
    ("highdicom/dx_image.dcm", None),  # MONOCHROME1 + Presentation LUT Shape INVERSE: one inversion
    ("pydicom-data/vlut_04.dcm", None),  # VOI LUT Sequence
    ("pydicom-data/mlut_18.dcm", Window(30000.0, 40000.0)),  # Modality LUT Sequence, signed 12-bit
    ("pydicom/CT_small.dcm", Window(40.0, 400.0, "SIGMOID")),
    ("pydicom/CT_small.dcm", Window(40.0, 400.0, "LINEAR_EXACT")),
]


@pytest.mark.parametrize(("name", "choice"), CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_matches_pydicom_reference(name: str, choice: str | Window | None) -> None:
    ds = _load(name)
    window: Window | None
    if isinstance(choice, str):
        _, info = DatasetFrameSource(ds).frame(0)
        preset = find_preset(info, choice)
        assert preset is not None and preset.window is not None
        window = preset.window
    else:
        window = choice
    image, padding = ours(ds, window)
    expected = reference(ds, window)
    assert image.shape == expected.shape
    keep = ~padding
    mad = float(np.abs(image[keep] - expected[keep]).mean())
    assert mad <= 2.0, f"mean absolute difference {mad:.2f} grey levels"
    # Pixel padding (C.7.5.1.1.2) is background: black, whatever the window or inversion.
    assert not padding.any() or float(image[padding].max()) == 0.0
    # The comparison must be able to fail: the image is not flat.
    assert float(image.std()) > 5.0


def test_reference_comparison_detects_a_missing_inversion() -> None:
    """Guard against a tautological golden test: a non-inverted MONOCHROME1 image fails it."""
    ds = _load("highdicom/dx_image.dcm")
    image, _ = ours(ds, None)
    expected = reference(ds, None)
    assert float(np.abs((255.0 - image) - expected).mean()) > 20.0


def test_ct_padding_is_black_and_present() -> None:
    """dcmqi CT: Pixel Padding Value -2000 outside the reconstruction circle renders black even in
    the lung window, where air inside the circle (-1000 HU) is dark grey, not black."""
    ds = _load("dcmqi/ct-3slice/02.dcm")
    pixels, info = DatasetFrameSource(ds).frame(0)
    lung = find_preset(info, "lung")
    assert lung is not None
    image = render_full_size(pixels, info, voi=lung.window)
    assert (pixels == -2000).sum() > 10_000
    assert image[0, 0] == 0  # corner: padding
    air = image[(pixels > -1010 + 1024) & (pixels < -990 + 1024)]  # stored = HU + 1024
    assert air.size > 100 and 40 < float(np.median(air)) < 70  # (-1000 + 1350) / 1500 * 255 = 59
