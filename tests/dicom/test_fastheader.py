"""The fast header reader (fastheader.py, parse.parse_fast) against pydicom's parse: the same instance,
the same DICOM JSON and the same index fields for every file it takes, and it takes none that pydicom's
parse refuses (issue 21)."""

from __future__ import annotations

import dataclasses
import json
import struct
import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from backend.dicom import fastheader
from backend.dicom.dicomjson import dataset_to_json
from backend.dicom.errors import DicomRejected
from backend.dicom.metadata import extract_metadata
from backend.dicom.parse import ParseLimits, parse_fast, parse_instance
from backend.ingest.parsing import parse_file
from tools import synthetic

from .test_fixtures import MANIFEST, fixture

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")


def _same_as_pydicom(path: Path) -> bool:
    """Asserts the fast reader's answer equals pydicom's; True when the fast reader took the file."""
    fast = parse_fast(path=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reference = parse_instance(path=path)
        except DicomRejected:
            assert fast is None, f"{path}: the fast reader took a file pydicom's parse refuses"
            return False
        if fast is None:
            return False
        parsed, view = fast
        assert parsed == dataclasses.replace(reference, dataset=parsed.dataset), path
        meta = extract_metadata(reference.dataset, transfer_syntax_uid=reference.transfer_syntax_uid)
        model = dataset_to_json(reference.dataset, bulk_data_uri=None)
    assert view.model == model, path
    assert list(view.model) == list(model), path  # same order: the series document's bytes
    assert extract_metadata(view, transfer_syntax_uid=parsed.transfer_syntax_uid) == meta, path
    return True


def test_every_fixture_reads_as_pydicom_reads_it() -> None:
    taken = [item["file"] for item in MANIFEST if _same_as_pydicom(fixture(item["file"]))]
    # most of the set is Explicit VR Little Endian or encapsulated: the comparison above is not vacuous
    assert len(taken) >= 120
    assert "pydicom/charset/chrX1.dcm" in taken and "pydicom/charset/chrX2.dcm" in taken  # UTF-8, GB18030


def test_unusual_files_are_left_to_pydicom() -> None:
    for name in ("pydicom/MR_small_implicit.dcm", "pydicom/ExplVR_BigEnd.dcm", "pydicom/image_dfl.dcm",
                 "pydicom/charset/chrH32.dcm", "pydicom-data/explicit_VR-UN.dcm", "pydicom/MR_truncated.dcm"):
        assert parse_fast(path=fixture(name)) is None, name


@pytest.mark.parametrize(("codec", "declared"), [("gb18030", None), ("utf-8", None), ("gb18030", "GB2312"),
                                                 ("utf-8", "ISO_IR 192"), ("gbk", "GBK"), ("latin-1", None)])
def test_character_sets_and_their_repair(tmp_path: Path, codec: str, declared: str | None) -> None:
    ds = dcmread(fixture("pydicom/CT_small.dcm"))
    del ds.SpecificCharacterSet
    if declared:
        ds.SpecificCharacterSet = declared
    name = "Müller^Jörg" if codec == "latin-1" else "张伟"
    ds["PatientName"] = DataElement(0x00100010, "PN", f"Zhang^Wei={name}".encode(codec))
    ds["StudyDescription"] = DataElement(0x00081030, "LO", "胸部 CT \\ 增强".encode(codec) if codec != "latin-1"
                                         else b"Thorax")
    other = Dataset()
    other.PatientID = "320106196203150013"
    other.IssuerOfPatientID = "CN-RID"
    local = Dataset()  # text in an item: decoded in the data set's (repaired) character set
    local.PatientID = "MRN-77"
    issuer = "南京鼓楼" if codec != "latin-1" else "Zürich"
    local["IssuerOfPatientID"] = DataElement(0x00100021, "LO", issuer.encode(codec))
    ds.OtherPatientIDsSequence = Sequence([other, local])
    path = tmp_path / "charset.dcm"
    ds.save_as(path)
    assert _same_as_pydicom(path)


def test_synthetic_ct_takes_the_fast_path(tmp_path: Path) -> None:
    # the benchmark's series (ISO_IR 192, Chinese descriptions, a sequence): what ingest must make fast
    path = synthetic.write_ct_series(out_dir=tmp_path, seed=3, slices=1, size=64)[0]
    assert _same_as_pydicom(path)
    result = parse_file(path, ParseLimits())
    assert result.meta is not None and result.meta.patient.resident_id == "320106196203150013"
    assert result.dicom_json is not None and json.loads(result.dicom_json)["00081030"]["Value"] == ["胸部CT增强"]


def test_bytes_ending_between_two_elements_ask_for_more() -> None:
    # parse_fast reads the first 64 KiB; a header that goes on past them must not end there silently
    data = fixture("pydicom/CT_small.dcm").read_bytes()
    _, meta_end = fastheader.read_file_meta(data, start=132, complete=True)
    whole = fastheader.read_header(data, start=meta_end, complete=True, defer_bytes=256 * 1024)
    (length,) = struct.unpack_from("<H", data, meta_end + 6)  # the data set's first element, short form
    boundary = meta_end + 8 + length
    with pytest.raises(fastheader.NeedMore):
        fastheader.read_header(data[:boundary], start=meta_end, complete=False, defer_bytes=256 * 1024)
    with pytest.raises(fastheader.NeedMore):
        fastheader.read_header(data[:boundary + 3], start=meta_end, complete=False, defer_bytes=256 * 1024)
    assert whole.pixel_offset > boundary


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    """One Explicit VR Little Endian element with a 2-byte length (PS3.5 §7.1.2)."""
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _read(*elements: bytes) -> dict:
    return fastheader.read_header(b"".join(elements), start=0, complete=True, defer_bytes=256 * 1024).model


def test_elements_out_of_order_or_repeated_are_left_to_pydicom() -> None:
    # pydicom sorts the elements and keeps the last of two with one tag; the reader, which converts each
    # element as it meets it, leaves both cases to it (PS3.5 §7.1: ascending order, each tag once)
    modality, patient_id = _element(0x0008, 0x0060, b"CS", b"CT"), _element(0x0010, 0x0020, b"LO", b"P1")
    assert list(_read(modality, patient_id)) == ["00080060", "00100020"]
    for elements in ((patient_id, modality), (modality, modality), (modality, _element(0x0008, 0x0060, b"CS", b"MR"))):
        with pytest.raises(fastheader.Unusual):
            _read(*elements)


@pytest.mark.parametrize(("vr", "raw", "expected"), [
    (b"DS", b"-178.85\\0.0\\1e3 ", [-178.85, 0.0, 1000.0]),
    (b"DS", b" .5\\+2.\\-1E-2", [0.5, 2.0, -0.01]),
    (b"DS", b"1.5\\2\\x ", None),  # one item that is not a decimal: the whole value is pydicom's
    (b"DS", b"1.5\\\\2 ", None),  # an empty item between two
    (b"DS", b"nan ", None),
    (b"DS", b"1_000 ", None),
    (b"IS", b" 12\\-3\\+4 ", [12, -3, 4]),
    (b"IS", b"12\\3.0 ", None),
    (b"IS", b"1\\ ", None),
])
def test_numbers_as_text_convert_only_when_every_value_is_plain(vr: bytes, raw: bytes, expected: list | None) -> None:
    element = _element(0x0018, 0x0050, vr, raw)
    if expected is None:
        with pytest.raises(fastheader.Unusual):
            _read(element)
    else:
        assert _read(element)["00180050"] == {"vr": vr.decode(), "Value": expected}


def test_non_ascii_text_before_the_character_set_is_known() -> None:
    # No (0008,0005): InstitutionName (0008,0080) is read before PatientName, which decides the repair
    # (metadata.charset_repair guesses UTF-8 from the names); the text waits, in its place, until then.
    header = fastheader.read_header(b"".join((
        _element(0x0008, 0x0080, b"LO", "南京鼓楼医院".encode() + b" "),
        _element(0x0008, 0x0090, b"PN", "Li^Ming=李^明".encode()),
        _element(0x0010, 0x0010, b"PN", "Zhang^Wei=张^伟 ".encode()),
        _element(0x0010, 0x0020, b"LO", b"P1"),
    )), start=0, complete=True, defer_bytes=256 * 1024)
    assert header.charset_assumed == "ISO_IR 192"
    assert list(header.model) == ["00080005", "00080080", "00080090", "00100010", "00100020"]
    assert header.model["00080080"] == {"vr": "LO", "Value": ["南京鼓楼医院"]}
    assert header.model["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Zhang^Wei", "Ideographic": "张^伟"}]}


def test_file_meta_with_a_sequence_is_left_to_pydicom() -> None:
    # PS3.10 Table 7.1-1 has none; the File Meta reader does not walk one
    syntax = _element(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0")
    data = struct.pack("<HH2s2sI", 0x0002, 0x0001, b"SQ", b"\0\0", 0) + syntax
    with pytest.raises(fastheader.Unusual):
        fastheader.read_file_meta(data, start=0, complete=True)
    meta, end = fastheader.read_file_meta(data[12:] + _element(0x0008, 0x0060, b"CS", b"CT"), start=0, complete=True)
    assert meta == {0x00020010: "1.2.840.10008.1.2.1"} and end == 28


def _resumed(data: bytes, start: int, cuts: list[int]) -> fastheader.Header:
    """read_header on growing prefixes of ``data``, each call carrying on from the last one's NeedMore."""
    progress = None
    for cut in cuts:
        try:
            return fastheader.read_header(data[:cut], start=start, complete=False, defer_bytes=256 * 1024,
                                          resume=progress)
        except fastheader.NeedMore as more:
            progress = more.resume
        assert progress is not None
        # text waiting for the character set goes only into what is kept, not the items of a sequence that
        # ran out of bytes (they are read again)
        kept = [id(progress.model)] + [id(item) for element in progress.model.values()
                                       if element and element["vr"] == "SQ" for item in element["Value"]]
        assert all(id(container) in kept for container, *_ in progress.pending)
    return fastheader.read_header(data, start=start, complete=True, defer_bytes=256 * 1024, resume=progress)


def test_a_header_read_in_pieces_is_the_header_read_at_once(tmp_path: Path) -> None:
    # parse_fast reads 64 KiB, then more: the reader carries on from the element the bytes ran out in,
    # wherever that is (inside a sequence's item, a value, an element's header, between two elements)
    ct = synthetic.write_ct_series(out_dir=tmp_path, seed=3, slices=1, size=64)[0].read_bytes()
    siemens = fixture("dcm_qa_agfa/Siemens/011-0001.img").read_bytes()  # 145 KB of header, ~2,100 elements
    ds = dcmread(fixture("pydicom/CT_small.dcm"))  # no character set, GB18030 text, some in an item
    del ds.SpecificCharacterSet
    ds["PatientName"] = DataElement(0x00100010, "PN", "Zhang^Wei=张伟".encode("gb18030"))
    local = Dataset()
    local.PatientID = "MRN-77"
    local["IssuerOfPatientID"] = DataElement(0x00100021, "LO", "南京鼓楼".encode("gb18030"))
    local.TypeOfPatientID = "TEXT"
    local.is_undefined_length_sequence_item = True  # read item by item, not skipped when cut (PS3.5 §7.5)
    ds.OtherPatientIDsSequence = Sequence([local])
    ds["OtherPatientIDsSequence"].is_undefined_length = True
    ds.save_as(tmp_path / "gb.dcm")
    for data, step in ((ct, 5), (siemens, 997), ((tmp_path / "gb.dcm").read_bytes(), 3)):
        _, start = fastheader.read_file_meta(data, start=132, complete=True)
        whole = fastheader.read_header(data, start=start, complete=True, defer_bytes=256 * 1024)
        assert whole.pixel_offset > start + 1000
        for cut in range(start, whole.pixel_offset + 12, step):
            for cuts in ([cut], [start + (cut - start) // 3, cut]):
                pieced = _resumed(data, start, cuts)
                assert pieced == whole, cuts
                assert list(pieced.model) == list(whole.model)


def test_a_bounded_read_takes_only_what_lies_in_the_first_64_kib(tmp_path: Path) -> None:
    # What the event loop may parse itself (ingest/parsepool.py): for a header and native Pixel Data within
    # the first 64 KiB, the whole read's answer; for anything that needs more of the file, None
    ct = synthetic.write_ct_series(out_dir=tmp_path, seed=3, slices=1, size=512)[0]
    long_header = fixture("dcm_qa_agfa/Siemens/011-0001.img")  # 145 KB of header
    taken, declined = [], []
    for path in [ct, long_header, *(fixture(item["file"]) for item in MANIFEST)]:
        whole, bounded = parse_fast(path=path), parse_fast(path=path, bounded=True)
        if bounded is None:
            declined.append(path)
            continue
        assert whole is not None, path
        assert bounded[0] == whole[0] and bounded[1].model == whole[1].model, path
        taken.append(path)
    assert ct in taken and parse_fast(path=long_header) is not None and long_header in declined
    encapsulated = [p for p in declined if (fast := parse_fast(path=p)) is not None and fast[0].is_encapsulated]
    assert encapsulated, "no encapsulated file the whole read takes was declined: the sweep is vacuous"
    assert len(taken) >= 60
