"""The preview workers' fast frame sources give exactly pydicom's samples: the raw path (native
pixel data at the offset ingest recorded) and imagecodecs' RLE / JPEG-lossless decoders (fragments
ingest located)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from backend.dicom.errors import DicomRejected
from backend.dicom.parse import parse_instance
from backend.previews import decoded, jobs
from backend.previews.cache import DerivedCache
from backend.rendering import (
    DatasetFrameSource,
    FrameSource,
    Limits,
    RawFrameSource,
    RenderError,
    fastcodecs,
    to_display,
)
from benchmarks.ct_variants import jpeg_baseline_copy
from tests.conftest import DICOM
from tools.synthetic import write_ct_series

FILES = sorted(p for p in DICOM.rglob("*") if p.is_file() and p.suffix.lower() not in (".md", ".json")
               and p.name != "DICOMDIR")


def _ref(path: Path) -> jobs.InstanceRef | None:
    try:
        parsed = parse_instance(path=path)
    except DicomRejected:
        return None
    enc, nat = parsed.encapsulated_pixels, parsed.native_pixels
    return jobs.InstanceRef(store=str(path.parent), key=path.name, sha256=f"{abs(hash(str(path))):064d}"[:64],
                            transfer_syntax_uid=parsed.transfer_syntax_uid,
                            pixel_data_offset=nat.offset if nat else (enc.offset if enc else None),
                            encapsulated=parsed.is_encapsulated,
                            fragments=tuple(enc.fragments) if enc else None)


def _display(source: FrameSource, frame: int) -> np.ndarray:
    """Compared as displayed: the raw path hands over samples as stored (bits above Bits Stored not
    masked, frames.read_raw_frame) and the LUT stage masks them, so the pixels shown must be equal."""
    pixels, info = source.frame(frame)
    return to_display(pixels, info)


def _reference(path: Path, frame: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _display(DatasetFrameSource(pydicom.dcmread(path, force=True)), frame)


@pytest.mark.filterwarnings("ignore")
def test_fast_sources_match_pydicom_on_every_fixture(tmp_path: Path) -> None:
    rle_ct = write_ct_series(out_dir=tmp_path / "rle", seed=3, slices=2, size=64,
                             transfer_syntax="1.2.840.10008.1.2.5")
    # JPEG baseline (8-bit lossy) of the same phantom: its fragment is decoded without dcmread
    baseline = jpeg_baseline_copy(write_ct_series(out_dir=tmp_path / "native", seed=3, slices=2, size=64),
                                  tmp_path / "jpeg50")
    cache = DerivedCache(tmp_path / "cache")
    kinds: dict[str, int] = {}
    for path in [*FILES, *rle_ct, *baseline]:
        ref = _ref(path)
        if ref is None:
            continue
        try:
            source = jobs.frame_source(ref, cache=cache, limits=Limits())
            frames = source.number_of_frames
        except RenderError:
            continue
        kind = type(source).__name__
        passes = [source]
        if isinstance(source, decoded.CachedFrames):  # compressed: decoded once, then read back
            kinds[kind] = kinds.get(kind, 0) + 1
            kind = type(jobs._decoding_source(ref, cache=cache, limits=Limits())).__name__
            passes.append(jobs.frame_source(ref, cache=cache, limits=Limits()))
        if kind == "DatasetFrameSource" and len(passes) == 1:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        for frame in sorted({0, frames - 1}):
            for attempt in passes:
                try:
                    ours = _display(attempt, frame)
                except RenderError:  # then the reference must fail too
                    with pytest.raises(RenderError):
                        _reference(path, frame)
                    continue
                if path in baseline:  # lossy JPEG: libjpeg-turbo's samples, within 1 of pydicom's (below)
                    _assert_within_one(attempt, path, frame)
                    continue
                expected = _reference(path, frame)
                assert ours.shape == expected.shape, path
                assert np.array_equal(ours, expected), (path, frame, type(attempt).__name__)
        if len(passes) > 1:
            read_back = passes[1].hits  # type: ignore[attr-defined]
            kinds["read back"] = kinds.get("read back", 0) + read_back
    assert kinds.get(RawFrameSource.__name__, 0) > 50, kinds
    if decoded.enabled():  # J2K, JPEG, RLE, JPEG lossless grey fixtures were decoded once, then read back
        assert kinds.get("CachedFrames", 0) >= 10 and kinds.get("read back", 0) >= 10, kinds
    if jobs.fast_codecs() is not None:
        assert kinds.get("EncapsulatedFrameSource", 0) >= 6, kinds  # RLE + JPEG lossless fixtures
    for path in baseline if fastcodecs.baseline_available() else []:
        ref = _ref(path)
        assert ref is not None
        assert type(jobs._decoding_source(ref, cache=cache, limits=Limits())).__name__ == "EncapsulatedFrameSource"


def _assert_within_one(source: FrameSource, path: Path, frame: int) -> None:
    """Grey JPEG baseline is decoded by libjpeg-turbo (rendering/fastcodecs.py), pydicom's reference by
    libjpeg 9: both are conformant lossy decoders (ISO 10918-1 A.3.3 allows IDCT differences within
    ISO 10918-2's accuracy) and their samples differ by at most 1, in a minority of places. Compared as
    samples, not as displayed: a narrow window would magnify 1 into several grey levels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pydicom.dcmread(path, force=True).pixel_array
    ours, _ = source.frame(frame)
    assert ours.dtype == expected.dtype and ours.shape == expected.shape, path
    diff = np.abs(ours.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1, (path, frame, int(diff.max()))
    assert (diff != 0).mean() < 0.25, (path, frame, float((diff != 0).mean()))  # close, not merely clamped


def test_grey_jpeg_baseline_uses_libjpeg_turbo_within_one_of_pydicom(tmp_path: Path) -> None:
    """The switch is real: the fast source's samples are libjpeg-turbo's (they differ from pydicom's
    somewhere on a 512-wide CT slice) and stay within 1 of pydicom's everywhere; the data-set source
    (no fragments recorded) decodes the same way, so a frame kept by either gives the same preview."""
    if not fastcodecs.baseline_available():
        pytest.skip("imagecodecs' libjpeg-turbo decoder is not installed")
    [path] = jpeg_baseline_copy(write_ct_series(out_dir=tmp_path / "native", seed=5, slices=1),
                                tmp_path / "jpeg50")
    ref = _ref(path)
    assert ref is not None
    cache = DerivedCache(tmp_path / "cache")
    source = jobs._decoding_source(ref, cache=cache, limits=Limits())
    assert isinstance(source, jobs.EncapsulatedFrameSource)
    fast, _ = source.frame(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
        expected = ds.pixel_array
        via_dataset, _ = DatasetFrameSource(ds).frame(0)
    assert np.array_equal(via_dataset, fast)
    diff = np.abs(fast.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() == 1, int(diff.max())  # not pydicom's decoder, and never more than 1 away
    _assert_within_one(source, path, 0)
