"""The synthetic chest CT / CR generator: realistic HU, geometry, determinism, encodings, speed."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, RLELossless

from backend.dicom.metadata import extract_metadata
from backend.dicom.parse import parse_instance
from tools.synthetic import (
    UnsupportedEncoding,
    chest_cr_pixels,
    ct_slice_hu,
    write_chest_cr,
    write_ct_series,
)

SIZE = 512
MM = 358.4 / SIZE


def _at(img: np.ndarray, x_mm: float, y_mm: float, half: int = 2) -> float:
    """Median HU of a small patch at patient (x, y) mm from the image centre."""
    col, row = int(x_mm / MM + SIZE / 2), int(y_mm / MM + SIZE / 2)
    return float(np.median(img[row - half : row + half + 1, col - half : col + half + 1]))


@pytest.fixture(scope="module")
def mid_chest() -> np.ndarray:
    return ct_slice_hu(index=150, slices=300, size=SIZE, seed=7)  # 150 mm below the apex


def test_hounsfield_units_are_realistic(mid_chest: np.ndarray) -> None:
    assert _at(mid_chest, -170, -170) == pytest.approx(-1000, abs=30)  # air outside the body
    assert _at(mid_chest, -85, -40) == pytest.approx(-850, abs=40)  # right lung parenchyma
    assert _at(mid_chest, 22, 50) == pytest.approx(245, abs=40)  # contrast-filled descending aorta
    assert _at(mid_chest, 22, -27) == pytest.approx(260, abs=40)  # left ventricle blood pool
    assert _at(mid_chest, 0, 72) == pytest.approx(280, abs=60)  # cancellous bone (150 mm: not a disc)
    assert _at(mid_chest, -155, 0, half=1) == pytest.approx(-100, abs=40)  # subcutaneous fat
    assert _at(mid_chest, 0, 96, half=1) == pytest.approx(15, abs=40)  # spinal canal
    assert mid_chest.max() > 1000  # cortical bone somewhere (vertebra, ribs)
    vessels = (mid_chest > 100) & (np.abs(np.arange(SIZE)[None, :] - SIZE / 2) * MM > 40)
    assert vessels.sum() > 20  # contrast in lung vessels / ribs


def test_anatomy_changes_along_z() -> None:
    apex = ct_slice_hu(index=10, slices=300, size=SIZE, seed=7)
    abdomen = ct_slice_hu(index=290, slices=300, size=SIZE, seed=7)
    body = (np.abs(np.arange(SIZE)[None, :] - SIZE / 2) * MM < 120) & (
        np.abs(np.arange(SIZE)[:, None] - SIZE / 2) * MM < 80
    )
    assert ((apex < -700) & body).sum() > 10 * ((abdomen < -700) & body).sum()  # lungs at the apex only
    assert _at(abdomen, -45, 5) == pytest.approx(100, abs=40)  # liver below the diaphragm
    assert _at(apex, 0, 8) == pytest.approx(-1000, abs=60)  # trachea


def test_phantom_is_deterministic() -> None:
    a = ct_slice_hu(index=42, slices=300, size=64, seed=3)
    assert np.array_equal(a, ct_slice_hu(index=42, slices=300, size=64, seed=3))
    assert not np.array_equal(a, ct_slice_hu(index=42, slices=300, size=64, seed=4))


def test_series_files_are_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    first = write_ct_series(out_dir=tmp_path / "a", seed=11, slices=4, size=64)
    second = write_ct_series(out_dir=tmp_path / "b", seed=11, slices=4, size=64)
    other = write_ct_series(out_dir=tmp_path / "c", seed=12, slices=4, size=64)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert dcmread(first[0]).SOPInstanceUID != dcmread(other[0]).SOPInstanceUID


def test_series_parses_with_proper_geometry_and_patient(tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path, seed=5, slices=6, size=64)
    metas = []
    for path in paths:
        parsed = parse_instance(path=path)
        assert parsed.native_pixels is not None
        assert parsed.native_pixels.length == 64 * 64 * 2
        metas.append(extract_metadata(parsed.dataset, transfer_syntax_uid=parsed.transfer_syntax_uid))
    first = metas[0]
    assert first.patient.name == "Zhang^Wei=张^伟"
    assert first.patient.display_name == "张伟"
    assert first.patient.resident_id == "320106196203150013"
    assert first.study.institution_name == "南京市第一医院"
    assert first.study.study_datetime is not None
    assert first.study.study_datetime.utcoffset() == timedelta(hours=8)
    assert first.instance.window_center == (40.0,)
    assert first.instance.window_width == (400.0,)
    assert first.instance.rescale_intercept == -1024
    assert first.instance.pixel_representation == 1
    assert first.instance.image_orientation_patient == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert first.instance.pixel_spacing == (pytest.approx(5.6), pytest.approx(5.6))
    zs = [m.instance.image_position_patient[2] for m in metas if m.instance.image_position_patient]
    steps = np.diff(zs)
    assert np.allclose(steps, -50.0)  # 300 mm coverage / 6 slices, stepping down
    assert [m.instance.instance_number for m in metas] == list(range(1, 7))
    assert len({m.instance.sop_instance_uid for m in metas}) == 6
    assert len({m.series.series_instance_uid for m in metas}) == 1
    assert all(len(m.instance.sop_instance_uid or "") <= 64 for m in metas)
    hu = dcmread(paths[3]).pixel_array.astype(np.int32) - 1024
    assert hu.min() >= -1100


@pytest.mark.parametrize("ts", [RLELossless, JPEG2000Lossless])
def test_lossless_encodings_decode_to_the_same_pixels(tmp_path: Path, ts: str) -> None:
    plain = write_ct_series(out_dir=tmp_path / "plain", seed=9, slices=2, size=64)
    packed = write_ct_series(out_dir=tmp_path / "packed", seed=9, slices=2, size=64, transfer_syntax=ts)
    for a, b in zip(plain, packed, strict=True):
        parsed = parse_instance(path=b)
        assert parsed.is_encapsulated
        assert parsed.transfer_syntax_uid == ts
        assert np.array_equal(dcmread(a).pixel_array, dcmread(b).pixel_array)
        assert dcmread(a).SOPInstanceUID != dcmread(b).SOPInstanceUID  # a copy, not a conflict


def test_jpeg_lossless_process_14_is_not_encodable(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedEncoding, match="RLE Lossless"):
        write_ct_series(out_dir=tmp_path, seed=1, slices=1, size=32, transfer_syntax=JPEGLosslessSV1)


def test_chest_cr(tmp_path: Path) -> None:
    path = write_chest_cr(out_dir=tmp_path, seed=2)
    ds = dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert (ds.Rows, ds.Columns, ds.BitsStored) == (2000, 2000, 12)
    pixels = ds.pixel_array
    assert int(pixels.max()) <= 4095
    lung = float(np.median(pixels[800:900, 500:600]))  # right lung field
    spine = float(np.median(pixels[800:900, 995:1005]))
    assert lung > spine + 500  # MONOCHROME1: air-filled lung is dark = high values
    meta = extract_metadata(parse_instance(path=path).dataset)
    assert meta.series.modality == "CR"
    assert np.array_equal(chest_cr_pixels(rows=100, columns=80, seed=2), chest_cr_pixels(rows=100, columns=80, seed=2))


def test_full_size_series_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    paths = write_ct_series(out_dir=tmp_path, seed=7)
    elapsed = time.perf_counter() - start
    assert len(paths) == 300
    ds = dcmread(paths[-1], stop_before_pixels=True)
    assert (ds.Rows, ds.Columns) == (512, 512)
    assert float(ds.SliceThickness) == 1.0
    assert float(ds.PixelSpacing[0]) == 0.7
    assert elapsed < 60, elapsed
