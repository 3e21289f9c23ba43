"""The share session's DICOM masks (backend/sharing/masking.py), attribute by attribute."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.datadict import keyword_for_tag

from backend.sharing import masking as m

RID = "320106196203150013"


def _pn(*groups: str) -> dict[str, Any]:
    return {"vr": "PN", "Value": [dict(zip(("Alphabetic", "Ideographic"), groups, strict=False))]}


def test_the_table_names_real_attributes() -> None:
    for tag, (keyword, action, why) in m.TAGS.items():
        assert keyword_for_tag(int(tag, 16)) == keyword, tag
        assert action in (m.NAME, m.IDS, m.ID_SEQUENCE, m.EMPTY, m.REMOVE) and why.startswith("E.1-1")
        assert int(tag[:4], 16) % 2 == 0  # standard attributes; private ones go as a group


def test_the_page_masks() -> None:
    assert m.mask_name("张伟") == "张*" and m.mask_name("欧阳娜娜") == "欧***" and m.mask_name("") == ""
    assert m.mask_resident_number(RID) == "3201**********0013"
    assert m.mask_text(f"身份证{RID}，电话 13800138000 / +86 139-0000") == \
        "身份证3201**********0013，电话 138****8000 / +86 139-0000"
    assert m.mask_text("1.2.840.10008.320106196203150013") == "1.2.840.10008.3201**********0013"  # text only
    assert m.mask_text("ACC12345678901234567") == "ACC12345678901234567"  # part of a longer token


@pytest.mark.parametrize(("tag", "element", "expected"), [
    ("00100010", _pn("Zhang^Wei", "张^伟"), {"vr": "PN", "Value": [{"Alphabetic": "Z*******",
                                                                     "Ideographic": "张*"}]}),
    ("00100020", {"vr": "LO", "Value": [RID]}, {"vr": "LO", "Value": ["3201**********0013"]}),
    ("00100020", {"vr": "LO", "Value": ["320106620315001"]}, {"vr": "LO", "Value": ["3201*******5001"]}),
    ("00100020", {"vr": "LO", "Value": ["NJ0001234"]}, {"vr": "LO", "Value": ["NJ0001234"]}),
    ("00101000", {"vr": "LO", "Value": [RID, "NJ-1"]}, {"vr": "LO", "Value": ["3201**********0013", "NJ-1"]}),
    ("00100030", {"vr": "DA", "Value": ["19620315"]}, {"vr": "DA"}),
    ("00101001", _pn("张大伟"), {"vr": "PN", "Value": [{"Alphabetic": "张**"}]}),
    ("00102154", {"vr": "SH", "Value": ["13800138000"]}, None),
    ("00102155", {"vr": "LT", "Value": ["tel:13800138000"]}, None),
    ("00101040", {"vr": "LO", "Value": ["南京市"]}, None),
    ("00104000", {"vr": "LT", "Value": ["anything"]}, None),
    ("00111001", {"vr": "LO", "Value": ["张伟"]}, None),  # private
    ("0009100F", {"vr": "UN", "InlineBinary": "AAAA"}, None),  # private, binary
    ("00081030", {"vr": "LO", "Value": [f"胸部CT {RID}"]}, {"vr": "LO", "Value": ["胸部CT 3201**********0013"]}),
    ("00080090", _pn("Li^Ming", "李^明"), _pn("Li^Ming", "李^明")),  # a physician's name stays
    ("0020000D", {"vr": "UI", "Value": [f"1.2.3.{RID}"]}, {"vr": "UI", "Value": [f"1.2.3.{RID}"]}),  # a UID stays
    ("00280010", {"vr": "US", "Value": [512]}, {"vr": "US", "Value": [512]}),
    ("00100010", {"vr": "PN"}, {"vr": "PN"}),  # no value: nothing to mask
])
def test_each_attribute(tag: str, element: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert m.mask_dataset({tag: element}).get(tag) == expected


def test_other_ids_sequence_and_nested_sequences() -> None:
    item = {"00100020": {"vr": "LO", "Value": ["ABC123456789"]}, "00100021": {"vr": "LO", "Value": ["CN-RID"]}}
    hospital = {"00100020": {"vr": "LO", "Value": ["NJ-9"]}, "00100021": {"vr": "LO", "Value": ["NJ"]}}
    out = m.mask_dataset({"00101002": {"vr": "SQ", "Value": [item, hospital]},
                          "00400275": {"vr": "SQ", "Value": [{"00321060": {"vr": "LO", "Value": [f"ID {RID}"]},
                                                              "00291010": {"vr": "LO", "Value": ["x"]}}]}})
    ids = out["00101002"]["Value"]
    assert ids[0]["00100020"]["Value"] == ["ABC1****6789"]  # the issuer says resident ID: masked whatever the shape
    assert ids[1]["00100020"]["Value"] == ["NJ-9"]
    request = out["00400275"]["Value"][0]
    assert request == {"00321060": {"vr": "LO", "Value": ["ID 3201**********0013"]}}  # private item attr removed


def test_unmatchable_names_every_masked_attribute() -> None:
    assert {"PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs"} <= m.UNMATCHABLE
