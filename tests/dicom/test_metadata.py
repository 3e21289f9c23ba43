"""Index metadata: character sets, resident IDs, time zones, malformed values, object kinds."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from backend.dicom.errors import DicomRejected
from backend.dicom.metadata import CHINA, InstanceKind, classify, extract_metadata
from backend.dicom.parse import parse_instance

from .test_fixtures import MANIFEST, entry, fixture

# pydicom warns (and logs) about the malformed values these tests feed it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

PARSEABLE = []
with warnings.catch_warnings():  # collection time: pytest's filters do not apply yet
    warnings.simplefilter("ignore")
    for _item in MANIFEST:
        try:
            parse_instance(path=fixture(_item["file"]))
        except DicomRejected:
            continue
        PARSEABLE.append(_item)


def _meta_of(path: Path):
    parsed = parse_instance(path=path)
    return extract_metadata(parsed.dataset, transfer_syntax_uid=parsed.transfer_syntax_uid)


@pytest.mark.parametrize("item", PARSEABLE, ids=[e["file"] for e in PARSEABLE])
def test_every_parseable_fixture_yields_manifest_identity(item: dict) -> None:
    meta = _meta_of(fixture(item["file"]))
    assert meta.patient.name == (item["PatientName"] or None)
    assert meta.patient.patient_id == (item["PatientID"] or None)
    assert meta.instance.sop_instance_uid == item["SOPInstanceUID"]
    assert meta.series.series_instance_uid == item["SeriesInstanceUID"]
    assert meta.series.modality == (item["Modality"] or None)
    if item["Rows"]:
        assert meta.instance.rows == int(item["Rows"])
        assert meta.instance.columns == int(item["Columns"])


@pytest.mark.parametrize(
    ("name", "full", "display"),
    [
        ("pydicom/charset/chrX1.dcm", "Wang^XiaoDong=王^小東", "王小東"),  # ISO_IR 192
        ("pydicom/charset/chrX2.dcm", "Wang^XiaoDong=王^小东", "王小东"),  # GB18030
        ("pydicom/charset/chrH32.dcm", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", "山田太郎"),  # IR 13 + IR 87
        ("pydicom/charset/chrI2.dcm", "Hong^Gildong=洪^吉洞=홍^길동", "洪吉洞"),  # IR 149
        ("pydicom/charset/chrFren.dcm", "Buc^Jérôme", "Buc Jérôme"),  # ISO_IR 100
    ],
)
def test_charset_fixtures_decode_to_manifest_names(name: str, full: str, display: str) -> None:
    assert entry(name)["PatientName"] == full
    meta = _meta_of(fixture(name))
    assert meta.patient.name == full
    assert meta.patient.display_name == display


def test_gbk_is_decoded(tmp_path: Path) -> None:
    # Same bytes as the GB18030 fixture (王小东 is identical in GBK); only the declared term changes.
    data = fixture("pydicom/charset/chrX2.dcm").read_bytes().replace(b"CS\x08\x00GB18030 ", b"CS\x08\x00GBK     ")
    path = tmp_path / "gbk.dcm"
    path.write_bytes(data)
    meta = _meta_of(path)
    assert meta.specific_character_set == "GBK"
    assert meta.patient.name == "Wang^XiaoDong=王^小东"


def test_iso_2022_ir_58_with_escape_sequences(tmp_path: Path) -> None:
    # PS3.5 Annex K.2: each ideographic component is introduced by ESC $ ) A (GB 2312 into G1).
    raw = b"Wang^XiaoDong=\x1b$)A" + "王".encode("gb2312") + b"^\x1b$)A" + "小东".encode("gb2312") + b"="
    ds = dcmread(fixture("pydicom/charset/chrX2.dcm"))
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 58"]
    ds["PatientName"] = DataElement(0x00100010, "PN", raw)
    path = tmp_path / "ir58.dcm"
    ds.save_as(path)
    assert b"\x1b$)A" in path.read_bytes()
    meta = _meta_of(path)
    assert meta.patient.name_ideographic == "王^小东"
    assert meta.patient.display_name == "王小东"


@pytest.mark.parametrize(("codec", "declared"), [("gb18030", None), ("utf-8", None), ("gb18030", "GB2312")])
def test_undeclared_or_nonstandard_chinese_charset_is_guessed(tmp_path: Path, codec: str, declared: str | None) -> None:
    ds = dcmread(fixture("pydicom/CT_small.dcm"))
    del ds.SpecificCharacterSet
    if declared:
        ds.SpecificCharacterSet = declared
    ds["PatientName"] = DataElement(0x00100010, "PN", "张伟".encode(codec))
    path = tmp_path / "guess.dcm"
    ds.save_as(path)
    meta = _meta_of(path)
    assert meta.patient.name == "张伟"
    assert meta.charset_assumed in ("GB18030", "ISO_IR 192")


def test_resident_id_from_other_patient_ids_sequence(tmp_path: Path) -> None:
    ds = dcmread(fixture("pydicom/CT_small.dcm"))
    other = Dataset()
    other.PatientID = "320106196203150013"
    other.IssuerOfPatientID = "CN-RID"
    other.TypeOfPatientID = "TEXT"
    mrn = Dataset()
    mrn.PatientID = "MRN-77"
    mrn.IssuerOfPatientID = "OTHER-HOSPITAL"
    ds.OtherPatientIDsSequence = Sequence([mrn, other])
    ds.IssuerOfPatientID = "NJ-GULOU"
    path = tmp_path / "rid.dcm"
    ds.save_as(path)
    patient = _meta_of(path).patient
    assert patient.resident_id == "320106196203150013"
    assert patient.issuer_of_patient_id == "NJ-GULOU"
    assert [o.value for o in patient.other_ids] == ["MRN-77", "320106196203150013"]


def test_study_time_uses_file_offset_or_china() -> None:
    ct = _meta_of(fixture("pydicom/CT_small.dcm"))  # TimezoneOffsetFromUTC -0500
    assert ct.study.study_datetime == datetime(2004, 1, 19, 7, 27, 30, tzinfo=timezone(timedelta(hours=-5)))
    mr = _meta_of(fixture("dcm_qa_ts/1.dcm"))  # no offset: Asia/Shanghai
    assert mr.study.study_datetime is not None
    assert mr.study.study_datetime.utcoffset() == timedelta(hours=8)
    assert mr.study.study_date == date(2014, 3, 10)
    assert mr.acquired_at is not None


def test_malformed_values_become_none() -> None:
    ds = dcmread(fixture("pydicom/badVR.dcm"))  # NumberOfFrames "1A"
    for tag, vr, value in [
        (0x00080020, "DA", b"2003.13.45"),
        (0x00080030, "TM", b"99"),
        (0x00200013, "IS", b"x7"),
        (0x00100040, "CS", b"U "),
        (0x00100030, "DA", b"19620230"),
    ]:
        ds[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)
    meta = extract_metadata(ds)
    assert meta.instance.number_of_frames is None
    assert meta.instance.instance_number is None
    assert meta.study.study_date is None
    assert meta.study.study_datetime is None
    assert meta.patient.sex is None
    assert meta.patient.birth_date is None
    assert meta.instance.rows == 10


def test_geometry_and_display_values() -> None:
    meta = _meta_of(fixture("pydicom/CT_small.dcm")).instance
    assert meta.image_position_patient is not None
    assert len(meta.image_position_patient) == 3
    assert meta.image_orientation_patient == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert meta.pixel_spacing is not None
    assert meta.rescale_slope == 1.0
    assert meta.bits_stored == 16
    assert meta.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    overlay = _meta_of(fixture("pydicom/examples_overlay.dcm")).instance
    assert overlay.window_center == (450.0, 200.0)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("pydicom/test-SR.dcm", InstanceKind.SR),
        ("dcmqi/liver.dcm", InstanceKind.SEG),
        ("pydicom/waveform_ecg.dcm", InstanceKind.WAVEFORM),
        ("dcmqi/sr-example/rwvm.dcm", InstanceKind.OTHER),
        ("pydicom/CT_small.dcm", InstanceKind.IMAGE),
    ],
)
def test_kind_of_fixture_objects(name: str, kind: InstanceKind) -> None:
    assert _meta_of(fixture(name)).instance.kind == kind


@pytest.mark.parametrize(
    ("uid", "kind"),
    [
        ("1.2.840.10008.5.1.4.1.1.104.1", InstanceKind.PDF),
        ("1.2.840.10008.5.1.4.1.1.66", InstanceKind.RAW),
        ("1.2.840.10008.5.1.4.1.1.11.1", InstanceKind.PR),
        ("1.2.840.10008.5.1.4.1.1.481.2", InstanceKind.RT),
        ("1.2.840.10008.5.1.4.1.1.88.59", InstanceKind.SR),
    ],
)
def test_classify_non_image_sop_classes(uid: str, kind: InstanceKind) -> None:
    assert classify(uid, has_pixels=False) == kind


def test_china_zone_is_plus_eight() -> None:
    assert datetime(2026, 1, 1, tzinfo=CHINA).utcoffset() == timedelta(hours=8)
