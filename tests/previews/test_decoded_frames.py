"""A compressed frame is decoded once and read back from the derived cache (previews/decoded.py): the
previews made from the kept frame are byte-identical to those made by decoding the original, the web
process's inline renderer never decodes an original, and a damaged kept frame is decoded again."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest

from backend.previews import decoded, jobs
from backend.previews.cache import DerivedCache
from backend.rendering import DatasetFrameSource, Limits
from backend.rendering.encode import encode
from tests.previews.test_frame_sources import _ref
from tools.synthetic import write_ct_series

pytestmark = pytest.mark.skipif(not decoded.enabled(), reason="imagecodecs without zstd: frames are not kept")
J2K = "1.2.840.10008.1.2.4.90"
WINDOWS = ("default", "c40w400", "c-600w1500")


def _reference(path: Path, window: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = DatasetFrameSource(pydicom.dcmread(path))
    return encode(jobs.render_frame_image(source, frame=0, window=window, width=512), fmt="jpeg", quality=85)


def _render(ref: jobs.InstanceRef, cache: DerivedCache, window: str, *, inline: bool = False) -> bytes | None:
    fn = jobs.render_decoded_preview if inline else jobs.render_preview
    return fn(ref, 0, window, 512, "jpeg", 85, cache.root, Limits())


@pytest.fixture
def j2k(tmp_path: Path) -> Path:
    return write_ct_series(out_dir=tmp_path / "ct", seed=5, slices=1, size=96, transfer_syntax=J2K)[0]


def test_kept_frame_renders_byte_identical_previews(tmp_path: Path, j2k: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _ref(j2k)
    assert ref is not None
    cache = DerivedCache(tmp_path / "derived")
    first = _render(ref, cache, WINDOWS[0])
    assert first == _reference(j2k, WINDOWS[0])
    kept = cache.get(decoded.relpath(ref.sha256, 0))
    assert kept is not None and kept.startswith(decoded.MAGIC)

    # other windows come from the kept frame alone: decoding the original again would fail the test
    def no_decoder(*_: object, **__: object) -> None:
        raise AssertionError("the original was decoded again")

    monkeypatch.setattr(jobs, "_decoding_source", no_decoder)
    for window in WINDOWS[1:]:
        assert _render(ref, cache, window) == _reference(j2k, window)
        assert _render(ref, cache, window, inline=True) == _reference(j2k, window)


def test_inline_renderer_never_decodes_an_original(tmp_path: Path, j2k: Path) -> None:
    ref = _ref(j2k)
    assert ref is not None
    cache = DerivedCache(tmp_path / "derived")
    assert _render(ref, cache, "c40w400", inline=True) is None  # nothing decoded yet: the pool's work
    assert cache.get(decoded.relpath(ref.sha256, 0)) is None
    assert _render(ref, cache, "c40w400") is not None  # the pool decodes and keeps the frame
    assert _render(ref, cache, "c50w350", inline=True) == _reference(j2k, "c50w350")


def test_damaged_kept_frame_is_decoded_again(tmp_path: Path, j2k: Path) -> None:
    ref = _ref(j2k)
    assert ref is not None
    cache = DerivedCache(tmp_path / "derived")
    _render(ref, cache, "default")
    key = decoded.relpath(ref.sha256, 0)
    whole = cache.get(key)
    assert whole is not None
    cache.write(key, whole[: len(whole) // 2])  # e.g. cut short by a power loss before it reached the disk
    assert _render(ref, cache, "c40w400", inline=True) is None
    assert _render(ref, cache, "c40w400") == _reference(j2k, "c40w400")
    assert cache.get(key) == whole  # rewritten whole


def test_8bit_frame_kept_as_lz4_renders_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grey JPEG baseline (8-bit) frames are kept in version 2 (LZ4) under their own key; previews from it
    equal those rendered by decoding the original, and a damaged one is decoded again."""
    from benchmarks.ct_variants import jpeg_baseline_copy

    [path] = jpeg_baseline_copy(write_ct_series(out_dir=tmp_path / "native", seed=5, slices=1, size=128),
                                tmp_path / "jpeg")
    ref = _ref(path)
    assert ref is not None
    cache = DerivedCache(tmp_path / "derived")
    first = _render(ref, cache, "default")
    key = decoded.relpath(ref.sha256, 0, bits_allocated=8)
    assert key.endswith(".v2.lz4") and cache.get(decoded.relpath(ref.sha256, 0)) is None
    kept = cache.get(key)
    assert kept is not None and kept[4] == decoded.VERSION_8BIT
    fresh = DerivedCache(tmp_path / "again")  # no kept frame there: the original is decoded
    for window in WINDOWS[1:]:
        want = _render(ref, fresh, window)
        assert _render(ref, cache, window, inline=True) == want
    assert first == _render(ref, fresh, "default")
    cache.write(key, kept[: len(kept) - 7])  # cut short
    assert _render(ref, cache, "c50w350", inline=True) is None
    assert _render(ref, cache, "c50w350") == _render(ref, fresh, "c50w350")
    assert cache.get(key) == kept  # rewritten whole


@pytest.mark.parametrize("dtype", ["u1", "<u2", "<i2"])
def test_pack_unpack_round_trip(dtype: str) -> None:
    import numpy as np

    arr = np.random.default_rng(3).integers(-300 if "i" in dtype else 0, 250, size=(37, 51)).astype(dtype)
    data = decoded.pack(arr)
    assert data is not None
    assert data[4] == (decoded.VERSION_8BIT if arr.dtype.itemsize == 1 else decoded.VERSION)
    back = decoded.unpack(data, rows=37, columns=51)
    assert back is not None and back.dtype == arr.dtype and np.array_equal(back, arr)
    assert decoded.unpack(data[:-3], rows=37, columns=51) is None
    assert decoded.unpack(data, rows=37, columns=50) is None
