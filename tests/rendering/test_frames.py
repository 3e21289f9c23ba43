"""Frame sources: enhanced multi-frame order and functional groups, the raw fast path, limits."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement

from backend.rendering import DatasetFrameSource, Limits, RawFrameSource, read_raw_frame, to_display
from backend.rendering.errors import FrameOutOfRange, LimitExceeded
from backend.rendering.model import Window

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"


def _load(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(DATA / name, force=True)


def test_enhanced_mr_frames_come_out_in_order_with_their_own_windows() -> None:
    """Siemens enhanced MR (25 frames): frame i is the i-th stored frame, and each frame uses the
    Frame VOI LUT of its own per-frame functional group (centres/widths differ slightly per frame)."""
    ds = _load("dcm_qa_agfa/Agfa/011-0001.img")
    source = DatasetFrameSource(ds)
    assert source.number_of_frames == 25
    everything = ds.pixel_array  # pydicom's independent decode of all frames
    z = []
    for i in range(source.number_of_frames):
        pixels, info = source.frame(i)
        assert np.array_equal(pixels, everything[i])
        item = ds.PerFrameFunctionalGroupsSequence[i]
        voi = item.FrameVOILUTSequence[0]
        assert info.grey.windows[0] == Window(float(voi.WindowCenter), float(voi.WindowWidth))
        z.append(float(item.PlanePositionSequence[0].ImagePositionPatient[2]))
    assert z == sorted(z) and len(set(z)) == 25  # stored order is ascending slice position
    first = to_display(*source.frame(0))
    last = to_display(*source.frame(24))
    assert float(np.abs(first.astype(int) - last).mean()) > 1.0  # different slices, different images


def test_enhanced_ct_shared_groups_give_rescale_and_window() -> None:
    """NEMA enhanced CT: Pixel Value Transformation (intercept -1024) and Frame VOI LUT (49/102) are
    only in the Shared Functional Groups; frame 0 lies at z=-159, frame 1 at z=-149."""
    ds = _load("pydicom-data/eCT_Supplemental.dcm")
    source = DatasetFrameSource(ds)
    _, info = source.frame(1)
    assert info.grey.intercept == -1024.0 and info.grey.slope == 1.0
    assert info.grey.windows[0] == Window(49.0, 102.0)
    assert info.modality == "CT"


def test_float_parametric_map_uses_its_window_or_own_range() -> None:
    ds = _load("pydicom-data/parametric_map_float.dcm")
    pixels, info = DatasetFrameSource(ds).frame(0)
    assert pixels.dtype.kind == "f" and info.fmt.is_float
    image = to_display(pixels, info)
    assert image.dtype == np.uint8 and image.max() > 200 and image.min() == 0
    # Without the file's window (0.5/1.0), the frame's own range: max -> white, min -> black.
    bare = to_display(pixels, type(info)(fmt=info.fmt))
    assert bare.max() == 255 and bare.min() == 0


def _pixel_offset(path: Path) -> int:
    ds = pydicom.dcmread(path)  # fresh: Pixel Data still a RawDataElement that knows its offset
    element = ds.get_item(0x7FE00010)
    assert isinstance(element, RawDataElement)
    return int(element.value_tell)


@pytest.mark.parametrize(
    "name", ["dcmqi/ct-3slice/01.dcm", "pydicom/MR_small_bigendian.dcm", "dcm_qa_agfa/Agfa/011-0002.img"]
)
def test_raw_fast_path_equals_the_dcmread_path(name: str) -> None:
    """Reading the frame straight from the file at the Pixel Data offset gives the same preview as
    the full dcmread + decode (signed CT, big-endian MR, a middle frame of an enhanced MR)."""
    path = DATA / name
    ds = _load(name)
    source = DatasetFrameSource(ds)
    index = source.number_of_frames // 2
    pixels, info = source.frame(index)
    raw = read_raw_frame(
        path=path,
        offset=_pixel_offset(path),
        rows=info.fmt.rows,
        columns=info.fmt.columns,
        samples=1,
        bits_allocated=info.fmt.bits_allocated,
        pixel_representation=info.fmt.pixel_representation,
        big_endian=not ds.original_encoding[1],
        frame_index=index,
    )
    assert np.array_equal(raw.astype(np.int64), pixels.astype(np.int64))
    fast = RawFrameSource(path=path, offset=_pixel_offset(path), info=info, big_endian=not ds.original_encoding[1])
    assert np.array_equal(to_display(*fast.frame(index)), to_display(pixels, info))


def test_raw_read_of_truncated_file_is_a_render_error() -> None:
    from backend.rendering.errors import DecodeFailed

    path = DATA / "pydicom/MR_truncated.dcm"
    with pytest.raises(DecodeFailed):
        read_raw_frame(
            path=path,
            offset=_pixel_offset(path),
            rows=64,
            columns=64,
            samples=1,
            bits_allocated=16,
            pixel_representation=1,
            big_endian=False,
            frame_index=0,
        )


def test_limits_are_checked_before_decoding() -> None:
    """MR_truncated cannot be decoded; with a small pixel budget the limit error comes first,
    proving nothing was decoded. Same for the frame budget on a 25-frame enhanced MR."""
    with pytest.raises(LimitExceeded) as caught:
        DatasetFrameSource(_load("pydicom/MR_truncated.dcm"), limits=Limits(max_pixels=1000))
    assert "超过" in caught.value.message_zh
    with pytest.raises(LimitExceeded):
        DatasetFrameSource(_load("dcm_qa_agfa/Agfa/011-0001.img"), limits=Limits(max_frames=10))
    with pytest.raises(LimitExceeded):
        DatasetFrameSource(_load("dcmqi/ct-3slice/01.dcm"), limits=Limits(max_frame_pixels=512 * 511))
    DatasetFrameSource(_load("dcmqi/ct-3slice/01.dcm"), limits=Limits(max_frame_pixels=512 * 512))


def test_frame_out_of_range() -> None:
    source = DatasetFrameSource(_load("pydicom-data/emri_small.dcm"))
    with pytest.raises(FrameOutOfRange) as caught:
        source.frame(10)
    assert caught.value.reason == "frame_out_of_range"
    with pytest.raises(FrameOutOfRange):
        source.frame(-1)


@pytest.mark.parametrize(
    "name",
    [
        "dcmqi/ct-3slice/01.dcm",
        "pydicom-data/vlut_04.dcm",
        "pydicom-data/mlut_18.dcm",
        "pydicom-data/gdcm-US-ALOKA-16.dcm",
        "highdicom/dx_image.dcm",
        "dcm_qa_agfa/Agfa/011-0003.img",
    ],
)
def test_frame_info_survives_json_for_the_raw_path(name: str) -> None:
    """What ingest stores (FrameInfo as JSON + the pixel offset) renders exactly like dcmread."""
    import json

    from backend.rendering.serial import frame_info_from_dict, frame_info_to_dict

    path = DATA / name
    ds = _load(name)
    source = DatasetFrameSource(ds)
    infos = [source.info(i) for i in range(source.number_of_frames)]
    stored = json.dumps([frame_info_to_dict(i) for i in infos])
    restored = [frame_info_from_dict(d) for d in json.loads(stored)]
    assert restored == infos
    fast = RawFrameSource(path=path, offset=_pixel_offset(path), info=restored)
    last = source.number_of_frames - 1
    assert np.array_equal(to_display(*fast.frame(last)), to_display(*source.frame(last)))


@pytest.mark.parametrize(
    "name", ["pydicom-data/bad_sequence.dcm", "pydicom-data/JPEG-LL.dcm", "dcm_qa_ts/5.dcm", "dcm_qa_ts/6.dcm"]
)
def test_fast_jpeg_lossless_decoder_matches_pydicom(name: str) -> None:
    """imagecodecs' lossless-JPEG decoder (optional, ~3.5x faster) must give pydicom's exact pixels,
    signed files (JPEG-LL.dcm) included."""
    from backend.rendering import fastcodecs
    from backend.rendering.params import pixel_format

    if not fastcodecs.available():
        pytest.skip("imagecodecs is not installed")
    ds = _load(name)
    fmt = pixel_format(ds)
    assert fastcodecs.can_decode(str(ds.file_meta.TransferSyntaxUID), fmt)
    fast = fastcodecs.decode(ds, index=0, fmt=fmt)
    reference = _load(name).pixel_array
    assert fast.dtype == reference.dtype
    assert np.array_equal(fast, reference)
