"""The float32 straight-line path of `grey_to_uint8` must give the table's output bit for bit, engage
for the common CT case, and leave every other case to the table."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from backend.rendering import DatasetFrameSource, Window
from backend.rendering import lut as L
from backend.rendering.model import GreyParams, Lut

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"


def _via_table(
    pixels: np.ndarray, *, bits_stored: int, signed: bool, grey: GreyParams, voi: Window | Lut
) -> np.ndarray:
    """The path every frame took before: one lookup in the cached table."""
    codes = L.code_view(pixels)
    assert codes is not None
    table = L.display_table(
        code_bits=8 * codes.dtype.itemsize, bits_stored=bits_stored, signed=signed, grey=grey, voi=voi
    )
    return np.take(table, codes)


def _all_codes(code_bits: int, dtype: str) -> np.ndarray:
    """Every possible code, as a frame big enough for the line path."""
    codes = np.arange(1 << code_bits, dtype=np.uint8 if code_bits == 8 else np.uint16).view(dtype)
    return np.tile(codes, max(1, L.LINE_MIN_PIXELS // codes.size)).reshape(-1, 256)


GREYS = [
    GreyParams(slope=1.0, intercept=-1024.0),
    GreyParams(slope=1.0, intercept=0.0),
    GreyParams(slope=1.0, intercept=-1024.0, invert=True),
    GreyParams(slope=1.0, intercept=-1024.0, padding=(-2000, -2000)),
    GreyParams(slope=0.5, intercept=-1024.0),  # ties: the line is refused, the table stays
    GreyParams(slope=2.5, intercept=-10000.0),
    GreyParams(invert=True, padding=(0, 0)),  # padding black under inversion: the table stays
]
WINDOWS = [
    Window(40, 400),
    Window(-600, 1500),
    Window(400, 1800),
    Window(35, 80),
    Window(40.5, 400.25),
    Window(2048, 4096),
    Window(40, 400, "LINEAR_EXACT"),
    Window(40, 400, "SIGMOID"),
    Window(0.5, 1),  # LINEAR width 1: a threshold, not a line
]
LAYOUTS = [
    (16, 16, True, "<i2"),
    (16, 16, False, "<u2"),
    (16, 12, True, "<i2"),
    (16, 12, False, "<u2"),
    (8, 8, False, "u1"),
]


@pytest.mark.parametrize(("code_bits", "bits_stored", "signed", "dtype"), LAYOUTS)
def test_every_code_gives_the_table_value(code_bits: int, bits_stored: int, signed: bool, dtype: str) -> None:
    """Exhaustive over the code space, so it holds for any frame of that layout."""
    frame = _all_codes(code_bits, dtype)
    engaged = 0
    for grey, voi in itertools.product(GREYS, WINDOWS):
        got = L.grey_to_uint8(frame, bits_stored=bits_stored, signed=signed, grey=grey, voi=voi)
        want = _via_table(frame, bits_stored=bits_stored, signed=signed, grey=grey, voi=voi)
        assert got.dtype == np.uint8 and got.shape == frame.shape
        assert np.array_equal(got, want), (grey, voi)
        engaged += (
            L._line_for(code_bits=code_bits, bits_stored=bits_stored, signed=signed, grey=grey, voi=voi) is not None
        )
    assert engaged > 0  # the fast path is actually exercised, not only the fallback


def test_line_engages_for_ct_defaults_and_not_for_the_rest() -> None:
    ct = {"code_bits": 16, "bits_stored": 16, "signed": True}
    assert L._line_for(**ct, grey=GreyParams(intercept=-1024.0), voi=Window(40, 400)) is not None
    assert L._line_for(**ct, grey=GreyParams(intercept=-1024.0), voi=Window(-600, 1500)) is not None
    assert L._line_for(**ct, grey=GreyParams(intercept=-1024.0), voi=Window(40, 400, "SIGMOID")) is None
    lut = Lut(first_mapped=0, bits=16, data=np.arange(4096, dtype=np.uint16).tobytes())
    assert L._line_for(**ct, grey=GreyParams(intercept=-1024.0), voi=lut) is None
    assert L._line_for(**ct, grey=GreyParams(modality_lut=lut), voi=Window(40, 400)) is None


def test_real_ct_slice_same_as_table_path() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(DATA / "dcmqi/ct-3slice/02.dcm")
    pixels, info = DatasetFrameSource(ds).frame(0)
    bits, signed, grey = info.fmt.bits_stored, info.fmt.signed, info.grey
    for voi in (Window(40, 400), Window(-600, 1500), Window(400, 1800), Window(50, 350)):
        assert L._line_for(code_bits=16, bits_stored=bits, signed=signed, grey=grey, voi=voi) is not None
        got = L.grey_to_uint8(pixels, bits_stored=bits, signed=signed, grey=grey, voi=voi)
        assert np.array_equal(got, _via_table(pixels, bits_stored=bits, signed=signed, grey=grey, voi=voi))


def test_big_endian_and_garbage_high_bits_follow_the_table() -> None:
    """PS3.5 8.1.1: bits above Bits Stored are ignored and the sign comes from bit 11, on the line
    path as on the table path; byte order does not matter."""
    rng = np.random.default_rng(7)
    clean = rng.integers(-2048, 2048, size=(256, 256)).astype(np.int16)
    garbage = (clean.view(np.uint16) & np.uint16(0x0FFF)) | np.uint16(0xA000)
    grey, voi = GreyParams(intercept=-1024.0), Window(-600, 1500)

    def render(frame: np.ndarray) -> np.ndarray:
        return L.grey_to_uint8(frame, bits_stored=12, signed=True, grey=grey, voi=voi)

    a = render(clean)
    assert np.array_equal(a, render(garbage))
    assert np.array_equal(a, render(clean.astype(">i2")))
    assert np.array_equal(a, _via_table(clean, bits_stored=12, signed=True, grey=grey, voi=voi))


def test_small_frames_keep_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below LINE_MIN_PIXELS the lookup is cheaper; the result is the same either way."""
    called: list[int] = []
    monkeypatch.setattr(L, "_apply_line", lambda *a, **k: called.append(1))
    small = np.zeros((64, 64), dtype=np.int16)
    out = L.grey_to_uint8(small, bits_stored=16, signed=True, grey=GreyParams(), voi=Window(40, 400))
    assert out.shape == (64, 64) and called == []
