"""Defensive parsing of uploaded DICOM files: every fixture parses or is rejected with a reason."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.uid import UID

from backend.dicom.errors import DicomRejected, FailureReason
from backend.dicom.parse import ParsedInstance, ParseLimits, parse_instance, require_study

from .test_fixtures import MANIFEST, fixture

# pydicom warns (and logs) about the malformed values these tests feed it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

# Files the archive refuses, and why. Anything else in the manifest must parse.
EXPECTED_REJECTIONS = {
    "pydicom-data/HTJ2KLossless_08_RGB.dcm": FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,  # no Study UID
    "pydicom-data/JLSL_RGB_ILV0.dcm": FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,  # no SOP Instance UID
    "pydicom-data/bad_sequence.dcm": FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,  # hex "UID"
    "pydicom/MR_truncated.dcm": FailureReason.CANNOT_UNDERSTAND,  # Pixel Data cut short
    "pydicom/badVR.dcm": FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,  # meta/dataset UID mismatch
    "pydicom/dicomdirtests/DICOMDIR": FailureReason.SOP_CLASS_NOT_SUPPORTED,  # a directory, not an instance
}


def _outcome(path: Path, limits: ParseLimits | None = None) -> ParsedInstance | DicomRejected:
    try:
        return parse_instance(path=path, limits=limits)
    except DicomRejected as exc:
        return exc


@pytest.mark.parametrize("item", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_every_fixture_parses_or_is_rejected_with_a_reason(item: dict) -> None:
    result = _outcome(fixture(item["file"]))
    expected = EXPECTED_REJECTIONS.get(item["file"])
    if expected is None:
        assert isinstance(result, ParsedInstance), result
        assert result.sop_instance_uid == item["SOPInstanceUID"]
        assert result.study_instance_uid == item["StudyInstanceUID"]
        assert result.has_pixel_data == bool(item["has_pixels"])
        if item["ts_uid"]:
            assert result.transfer_syntax_uid == item["ts_uid"]
    else:
        assert isinstance(result, DicomRejected), item["file"]
        assert result.code == expected
        assert len(result.reason) > 10


def test_whole_fixture_set_parses_quickly() -> None:
    start = time.perf_counter()
    for item in MANIFEST:
        _outcome(fixture(item["file"]))
    assert time.perf_counter() - start < 10


def test_file_without_meta_infers_implicit_little_endian() -> None:
    parsed = parse_instance(path=fixture("pydicom-data/OT-PAL-8-face.dcm"))
    assert parsed.transfer_syntax_inferred
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2"
    assert not parsed.has_preamble
    assert not parsed.has_file_meta
    assert parsed.native_pixels is not None
    assert parsed.native_pixels.length == 480 * 640


def test_deflated_file_is_inflated() -> None:
    parsed = parse_instance(path=fixture("pydicom/image_dfl.dcm"))
    assert parsed.is_deflated
    assert parsed.native_pixels is None  # offsets inside the deflated stream are useless to a renderer
    assert parsed.dataset.Rows == 512


def _native_bytes(path: Path, parsed: ParsedInstance) -> bytes:
    assert parsed.native_pixels is not None
    with path.open("rb") as fp:
        fp.seek(parsed.native_pixels.offset)
        return fp.read(parsed.native_pixels.length)


@pytest.mark.parametrize(
    "name", ["pydicom/CT_small.dcm", "pydicom/MR_small_bigendian.dcm", "dcm_qa_agfa/Agfa/011-0001.img"]
)
def test_native_pixel_offset_points_at_the_pixels(name: str) -> None:
    path = fixture(name)
    parsed = parse_instance(path=path)
    assert not parsed.is_encapsulated
    assert _native_bytes(path, parsed) == dcmread(path).PixelData
    layout = parsed.native_pixels
    assert layout is not None
    assert layout.frame_bytes * layout.frames == layout.length


@pytest.mark.parametrize("name", ["pydicom/examples_ybr_color.dcm", "pydicom-data/RG1_J2KI.dcm", "dcm_qa_ts/5.dcm"])
def test_encapsulated_fragments_match_pydicom(name: str) -> None:
    path = fixture(name)
    parsed = parse_instance(path=path)
    assert parsed.is_encapsulated
    assert parsed.encapsulated_pixels is not None
    data = path.read_bytes()
    mine = b"".join(data[o : o + n] for o, n in parsed.encapsulated_pixels.fragments)
    ds = dcmread(path)
    frames = int(ds.get("NumberOfFrames") or 1)
    theirs = b"".join(generate_frames(ds.PixelData, number_of_frames=frames))
    assert mine.rstrip(b"\x00") == theirs.rstrip(b"\x00")


def test_600_byte_file_claiming_4_gib_fails_fast_with_bounded_memory(tmp_path: Path) -> None:
    # Implicit VR: every element has a 4-byte length. Patch the last element that starts inside the
    # first 600 bytes to claim 0xFFFFFFF0 bytes, then cut the file at 600 bytes.
    source = fixture("pydicom/MR_small_implicit.dcm")
    raw = source.read_bytes()
    position = 132 + len(_meta_bytes(raw))
    value_tell = 0
    while position + 8 <= 600:  # walk the implicit VR elements: tag (4) + length (4) + value
        value_tell = position + 8
        (length,) = struct.unpack("<L", raw[position + 4 : position + 8])
        position = value_tell + length
    assert 300 < value_tell <= 600
    data = bytearray(raw[:600])
    data[value_tell - 4 : value_tell] = struct.pack("<L", 0xFFFFFFF0)
    bad = tmp_path / "liar.dcm"
    bad.write_bytes(bytes(data))
    assert bad.stat().st_size == 600

    tracemalloc.start()
    start = time.perf_counter()
    result = _outcome(bad)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.CANNOT_UNDERSTAND
    assert "larger than the file" in result.reason
    assert elapsed < 0.5
    assert peak < 2 * 1024**2


def test_liar_in_file_meta_is_rejected(tmp_path: Path) -> None:
    data = bytearray(fixture("pydicom/CT_small.dcm").read_bytes())
    # (0002,0001) FileMetaInformationVersion, OB, 4-byte length right after the group length.
    at = data.index(b"\x02\x00\x01\x00OB")
    data[at + 8 : at + 12] = struct.pack("<L", 0xFFFFFFF0)
    bad = tmp_path / "meta-liar.dcm"
    bad.write_bytes(bytes(data[:600]))
    result = _outcome(bad)
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.CANNOT_UNDERSTAND


@pytest.mark.parametrize("cut", [140, 400, 900, 3000, 6400])
def test_truncated_files_are_rejected(tmp_path: Path, cut: int) -> None:
    bad = tmp_path / "cut.dcm"
    bad.write_bytes(fixture("pydicom/CT_small.dcm").read_bytes()[:cut])
    result = _outcome(bad)
    assert isinstance(result, DicomRejected), cut
    assert result.code in (FailureReason.CANNOT_UNDERSTAND, FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world, this is not DICOM at all" * 20, bytes(range(256)) * 4, b"%PDF-1.7\n" + b"x" * 500],
)
def test_garbage_cannot_be_understood(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(content)
    result = _outcome(bad)
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.CANNOT_UNDERSTAND


def test_pixel_limit_is_out_of_resources() -> None:
    result = _outcome(fixture("pydicom/CT_small.dcm"), ParseLimits(max_pixels=128 * 128 - 1))
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.OUT_OF_RESOURCES
    assert isinstance(_outcome(fixture("pydicom/CT_small.dcm"), ParseLimits(max_pixels=128 * 128)), ParsedInstance)


def test_multiframe_pixel_limit_counts_frames() -> None:
    # emri_small: 10 frames of 64x64.
    limits = ParseLimits(max_pixels=64 * 64 * 9)
    result = _outcome(fixture("pydicom-data/emri_small.dcm"), limits)
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.OUT_OF_RESOURCES


def test_file_size_limit_is_checked_before_reading() -> None:
    result = _outcome(fixture("pydicom/CT_small.dcm"), ParseLimits(max_file_bytes=1000))
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.OUT_OF_RESOURCES


@pytest.mark.parametrize("keyword", ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
def test_missing_uid_does_not_match_sop_class(tmp_path: Path, keyword: str) -> None:
    ds = dcmread(fixture("pydicom/CT_small.dcm"))
    delattr(ds, keyword)
    path = tmp_path / "no-uid.dcm"
    ds.save_as(path)
    result = _outcome(path)
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert keyword in result.reason


def test_meta_instance_uid_mismatch(tmp_path: Path) -> None:
    ds = dcmread(fixture("pydicom/CT_small.dcm"))
    ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3.4")
    path = tmp_path / "mismatch.dcm"
    ds.save_as(path, enforce_file_format=False)
    result = _outcome(path)
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert "MediaStorageSOPInstanceUID" in result.reason


def test_hex_uids_are_refused_unless_lenient(tmp_path: Path) -> None:
    ds = dcmread(fixture("pydicom/CT_small.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID("dccc9599087131742838cc1162a630fe")
    path = tmp_path / "hex.dcm"
    ds.save_as(path)
    result = _outcome(path)
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS
    parsed = parse_instance(path=path, limits=ParseLimits(strict_uids=False))
    assert parsed.sop_instance_uid == "dccc9599087131742838cc1162a630fe"


def test_deflate_bomb_is_out_of_resources(tmp_path: Path) -> None:
    source = fixture("pydicom/image_dfl.dcm").read_bytes()
    parsed = parse_instance(path=fixture("pydicom/image_dfl.dcm"))
    meta_end = 132 + len(_meta_bytes(source))
    assert parsed.is_deflated
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(b"\x00" * (64 * 1024**2)) + compressor.flush()
    bomb = tmp_path / "bomb.dcm"
    bomb.write_bytes(source[:meta_end] + body)
    result = _outcome(bomb, ParseLimits(max_inflated_bytes=8 * 1024**2))
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.OUT_OF_RESOURCES


def _meta_bytes(data: bytes) -> bytes:
    # (0002,0000) UL group length tells where File Meta ends (PS3.10 §7.1).
    assert data[132:136] == b"\x02\x00\x00\x00"
    (group_length,) = struct.unpack("<L", data[140:144])
    return data[132 : 144 + group_length]


def test_study_in_the_url_must_match() -> None:
    parsed = parse_instance(path=fixture("pydicom/CT_small.dcm"))
    require_study(parsed, study_instance_uid=parsed.study_instance_uid)
    with pytest.raises(DicomRejected) as caught:
        require_study(parsed, study_instance_uid="1.2.3")
    assert caught.value.code == FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS


def test_preamble_content_is_reported(tmp_path: Path) -> None:
    assert parse_instance(path=fixture("dcmqi/liver.dcm")).preamble_blank is True
    assert parse_instance(path=fixture("pydicom/CT_small.dcm")).preamble_blank is False  # a TIFF header
    assert parse_instance(path=fixture("pydicom-data/OT-PAL-8-face.dcm")).preamble_blank is None
    data = bytearray(fixture("pydicom/CT_small.dcm").read_bytes())
    data[0:4] = b"MZ\x90\x00"  # an executable header hiding in the preamble
    path = tmp_path / "polyglot.dcm"
    path.write_bytes(bytes(data))
    assert parse_instance(path=path).preamble_blank is False


FUZZ_SOURCES = [
    "pydicom/CT_small.dcm",
    "pydicom/charset/chrX2.dcm",
    "pydicom/MR_small_RLE.dcm",
    "pydicom/image_dfl.dcm",
]


@pytest.mark.parametrize("name", FUZZ_SOURCES)
def test_random_corruption_never_escapes_as_another_exception(tmp_path: Path, name: str) -> None:
    import random

    source = fixture(name).read_bytes()
    rng = random.Random(name)
    target = tmp_path / "fuzz.dcm"
    start = time.perf_counter()
    for _ in range(150):
        data = bytearray(source)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(0, min(len(data), 1500))
            data[position] = rng.randrange(256)
        target.write_bytes(bytes(data))
        result = _outcome(target)  # either outcome is fine; any other exception fails the test
        assert isinstance(result, (ParsedInstance, DicomRejected))
    assert time.perf_counter() - start < 20


def test_truncation_at_every_offset(tmp_path: Path) -> None:
    source = fixture("pydicom/charset/chrX1.dcm").read_bytes()
    target = tmp_path / "cut.dcm"
    for cut in range(0, len(source) - 1, 3):
        target.write_bytes(source[:cut])
        result = _outcome(target)
        assert isinstance(result, DicomRejected), cut


def test_huge_declared_image_is_refused_before_anything_else(tmp_path: Path) -> None:
    ds = dcmread(fixture("pydicom/CT_small.dcm"))
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000
    path = tmp_path / "huge.dcm"
    ds.save_as(path)
    assert path.stat().st_size < 50_000
    result = _outcome(path)
    assert isinstance(result, DicomRejected)
    assert result.code == FailureReason.OUT_OF_RESOURCES
    assert "65535×65535×1000" in result.reason


def test_one_bit_frames_without_byte_alignment_have_no_offset() -> None:
    seg = parse_instance(path=fixture("highdicom/seg_image_ct_binary.dcm")).native_pixels
    assert seg is not None
    assert seg.bits_allocated == 1
    assert seg.frame_offset(2) == seg.offset + 2 * 32  # 16x16 bits = 32 bytes per frame
    with pytest.raises(IndexError):
        seg.frame_offset(3)
    odd = replace(seg, rows=15, columns=15)
    with pytest.raises(ValueError, match="byte boundaries"):
        odd.frame_offset(1)
