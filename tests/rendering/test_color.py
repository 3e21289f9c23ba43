"""Colour images: ultrasound in YCbCr / J2K component transforms, palette colour, planar data."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut

from backend.rendering import DatasetFrameSource, to_display
from backend.rendering.color import expand_segmented, interleave, to_rgb8, ybr_full_to_rgb

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"


def _render(name: str, frame: int = 0) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(DATA / name, force=True)
    pixels, info = DatasetFrameSource(ds).frame(frame)
    return to_display(pixels, info).astype(int)


def test_power_doppler_colour_bar_of_ge_ultrasound() -> None:
    """GE US lymph node, JPEG 2000 lossless YBR_RCT. Left of the image is the power-Doppler colour
    bar labelled PWR: a symmetric hot colour map, yellow at both ends (rows 153-160 and 210-216),
    through orange to dark red in the middle (row 180), at column 26 (found by looking at the image;
    the bar is drawn by the scanner, so its colours are exact in this lossless file)."""
    image = _render("pydicom/examples_jpeg2k.dcm")
    assert image[156, 26].tolist() == [255, 255, 0]  # yellow
    assert image[213, 26].tolist() == [255, 255, 0]  # yellow
    r, g, b = image[180, 26].tolist()
    assert 100 <= r <= 170 and g <= 10 and b <= 10  # dark red
    r, g, b = image[168, 26].tolist()
    assert r == 255 and 100 <= g <= 180 and b == 0  # orange
    # The B-mode tissue is grey: equal channels (a YCbCr image shown as RGB would be tinted).
    tissue = image[300:320, 300:340]
    assert np.abs(tissue[..., 0] - tissue[..., 1]).max() <= 2


def test_sonosite_ybr_full_422_jpeg_cine() -> None:
    """SonoSite echo cine (30 frames, JPEG baseline YBR_FULL_422). The orientation marker dot at the
    top of the sector (row 19, column 189) is green-teal on screen; B-mode speckle is neutral grey.
    Were YCbCr shown as RGB, Y would land in red and every grey pixel would turn green-purple."""
    image = _render("pydicom/examples_ybr_color.dcm", frame=5)
    r, g, b = image[19, 189].tolist()
    assert g > r + 40 and g > b + 10
    sector = image[80:160, 120:200].reshape(-1, 3)
    bright = sector[sector.sum(axis=1) > 150]
    assert bright.size > 0
    assert float(np.abs(bright[:, 0] - bright[:, 2]).mean()) < 6.0


@pytest.mark.parametrize(
    "name", ["pydicom-data/OBXXXX1A_rle.dcm", "pydicom-data/gdcm-US-ALOKA-16.dcm", "pydicom-data/OT-PAL-8-face.dcm"]
)
def test_palette_colour_matches_pydicom(name: str) -> None:
    """Palette colour (plain 8-bit-index with 16-bit entries; ALOKA: 16-bit indices with a
    *segmented* 16-bit palette, C.7.9.2) against pydicom's apply_color_lut scaled to 8 bits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(DATA / name, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:  # OT-PAL-8-face has no file meta: implicit VR LE
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    image = _render(name)
    expected = apply_color_lut(ds.pixel_array, ds).astype(np.float64)
    if expected.max() > 255:
        expected = np.rint(expected / 257.0)
    assert image.shape == expected.shape
    assert float(np.abs(image - expected).mean()) <= 1.0
    assert float((image.max(axis=-1) - image.min(axis=-1)).max()) > 30  # there is colour


def test_philips_palette_header_is_blue() -> None:
    """The Philips OB header bar (top strip, behind the PHILIPS logo) is dark blue."""
    r, g, b = _render("pydicom-data/OBXXXX1A_rle.dcm")[20, 400].tolist()
    assert b > r + 40 and b > g + 20


def test_segmented_palette_expansion_follows_c_7_9_2() -> None:
    words = np.array([0, 3, 10, 20, 30, 1, 2, 50, 2, 1, 0, 0])  # discrete, linear, indirect(first segment)
    assert expand_segmented(words).tolist() == [10, 20, 30, 40, 50, 10, 20, 30]


def test_ybr_conversions_and_planar_configuration() -> None:
    grey = np.full((2, 2, 3), [100, 128, 128], dtype=np.uint8)
    assert (ybr_full_to_rgb(grey) == 100).all()  # Cb = Cr = 128 is neutral
    red = to_rgb8(np.array([[[76, 85, 255]]], dtype=np.uint8), photometric="YBR_FULL")
    assert red[0, 0, 0] > 250 and red[0, 0, 1] < 5 and red[0, 0, 2] < 5
    planes = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)  # R plane, G plane, B plane
    assert interleave(planes, planar_configuration=1)[0, 0].tolist() == [0, 4, 8]


def test_big_endian_planar_rgb() -> None:
    """Explicit VR Big Endian RGB with Planar Configuration 1 (colour-by-plane): decodes to an
    interleaved image whose channels are not all equal (planes were not mixed up into grey)."""
    image = _render("pydicom/ExplVR_BigEnd.dcm")
    assert image.shape == (60, 80, 3)
    assert float(np.abs(image[..., 0] - image[..., 2]).mean()) > 5
