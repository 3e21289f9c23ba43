"""The C.11 greyscale pipeline as pure functions: window functions, table path, bits, padding."""

from __future__ import annotations

import time

import numpy as np
import pytest

from backend.rendering.lut import display_table, grey_to_uint8, window_unit
from backend.rendering.model import GreyParams, Lut, Window


def _x(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_linear_window_per_c_11_2_1_2_1() -> None:
    """c=40, w=400: x <= c - 0.5 - (w-1)/2 = -160 -> 0; x > c - 0.5 + (w-1)/2 = 239 -> 1."""
    y = window_unit(_x(-161, -160, -159, 39.5, 239, 239.01, 1000), Window(40, 400))
    assert y[0] == 0 and y[1] == 0 and 0 < y[2] < 0.01
    assert y[3] == pytest.approx(0.5)
    assert y[4] == pytest.approx(1.0, abs=1e-9) and y[5] == 1 and y[6] == 1


def test_linear_exact_and_sigmoid_per_c_11_2_1_3() -> None:
    exact = window_unit(_x(-160, 40, 240), Window(40, 400, "LINEAR_EXACT"))
    assert exact.tolist() == [0.0, 0.5, 1.0]
    sigmoid = window_unit(_x(-1e6, 40, 1e6), Window(40, 400, "SIGMOID"))
    assert sigmoid[0] == pytest.approx(0) and sigmoid[1] == pytest.approx(0.5) and sigmoid[2] == pytest.approx(1)


def test_degenerate_widths_do_not_crash() -> None:
    assert window_unit(_x(0, 1), Window(0.5, 1)).tolist() == [0.0, 1.0]  # LINEAR width 1: a threshold
    assert window_unit(_x(0, 1), Window(0.5, 0.0)).tolist() == [0.0, 1.0]  # invalid width clamped
    assert np.isfinite(window_unit(_x(-5, 5), Window(0, 0, "SIGMOID"))).all()


def test_table_path_equals_element_wise_path() -> None:
    rng = np.random.default_rng(4)
    stored = rng.integers(-3000, 3000, size=(64, 64)).astype(np.int16)
    grey = GreyParams(slope=1.0, intercept=-1024.0)
    voi = Window(40, 400)
    via_table = grey_to_uint8(stored, bits_stored=16, signed=True, grey=grey, voi=voi)
    via_int32 = grey_to_uint8(stored.astype(np.int32), bits_stored=16, signed=True, grey=grey, voi=voi)
    assert np.array_equal(via_table, via_int32)


def test_bits_above_bits_stored_are_ignored_and_sign_extended() -> None:
    """PS3.5 8.1.1: 12 bits stored in 16 allocated. Overlay garbage in bits 12-15 must not change the
    image, and a signed 12-bit value 0xFFF is -1."""
    clean = np.array([[0x0FFF, 0x0800, 0x0001]], dtype=np.uint16)
    garbage = clean | np.uint16(0xF000)
    voi = Window(0, 100)
    a = grey_to_uint8(clean, bits_stored=12, signed=True, grey=GreyParams(), voi=voi)
    b = grey_to_uint8(garbage, bits_stored=12, signed=True, grey=GreyParams(), voi=voi)
    assert np.array_equal(a, b)
    expected = grey_to_uint8(np.array([[-1, -2048, 1]], dtype=np.int16), bits_stored=12, signed=True,
                             grey=GreyParams(), voi=voi)  # fmt: skip
    assert np.array_equal(a, expected)


def test_monochrome1_inversion_and_padding_black() -> None:
    stored = np.array([[0, 500, 1000, 4095]], dtype=np.uint16)
    voi = Window(2048, 4096)
    normal = grey_to_uint8(stored, bits_stored=12, signed=False, grey=GreyParams(), voi=voi)
    inverted = grey_to_uint8(stored, bits_stored=12, signed=False, grey=GreyParams(invert=True), voi=voi)
    assert np.array_equal(inverted, 255 - normal)
    padded = grey_to_uint8(
        stored, bits_stored=12, signed=False, grey=GreyParams(invert=True, padding=(0, 500)), voi=voi
    )
    assert padded[0, :2].tolist() == [0, 0]  # padding is black even though inversion made it white
    assert padded[0, 2] == inverted[0, 2]


def test_modality_lut_sequence_clamps_outside_range() -> None:
    """C.11.1.1: inputs below the first mapped value use entry 0, above the last entry."""
    lut = Lut(first_mapped=-2, bits=16, data=np.array([0, 100, 200, 300], dtype=np.uint16).tobytes())
    stored = np.array([[-10, -2, -1, 0, 1, 50]], dtype=np.int16)
    out = grey_to_uint8(stored, bits_stored=16, signed=True, grey=GreyParams(modality_lut=lut), voi=Window(150, 301))
    assert out[0, 0] == out[0, 1] == 0
    assert out[0, 4] == out[0, 5] == 255


def test_voi_lut_with_wrong_declared_depth_does_not_saturate() -> None:
    lut = Lut(first_mapped=0, bits=8, data=np.array([0, 1000, 4095], dtype=np.uint16).tobytes())
    assert lut.output_max == 4095
    out = grey_to_uint8(np.array([[0, 1, 2]], dtype=np.uint8), bits_stored=8, signed=False, grey=GreyParams(), voi=lut)
    assert out.tolist() == [[0, 62, 255]]


def test_512_ct_frame_modality_and_voi_under_2ms() -> None:
    """The brief's budget: 512x512 int16 through modality + VOI well under 2 ms. Measured with a
    cold table (cache cleared) - the warm case is a single lookup. The bound here is generous (the
    test machine is shared); the measured median is in the issue's report."""
    stored = np.random.default_rng(1).integers(-2000, 3000, size=(512, 512)).astype(np.int16)
    grey = GreyParams(intercept=-1024.0)
    times = []
    for i in range(7):
        display_table.cache_clear()
        t0 = time.perf_counter()
        grey_to_uint8(stored, bits_stored=16, signed=True, grey=grey, voi=Window(40 + i, 400))
        times.append(time.perf_counter() - t0)
    assert sorted(times)[3] < 0.010
