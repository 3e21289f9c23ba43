"""STOW-RS response documents (JSON and XML) and Dataset -> DICOM JSON with BulkDataURIs."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from backend.dicom.dicomjson import (
    NATIVE_DICOM_NS,
    FailedInstance,
    StoredInstance,
    StoreResponse,
    dataset_to_json,
    instance_url,
    json_to_native_xml,
    stow_http_status,
    stow_response_json,
    stow_response_xml,
    study_url,
)
from backend.dicom.errors import FailureReason, WarningReason
from backend.dicom.parse import ParseLimits, parse_instance

from .test_fixtures import fixture

# pydicom warns (and logs) about the malformed values these tests feed it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

BASE = "https://yunying.example/dicomweb"
STUDY = "1.2.826.0.1.3680043.8.498.1"
SERIES = STUDY + ".2"
CT = "1.2.840.10008.5.1.4.1.1.2"


def _stored(n: int, **kw: object) -> StoredInstance:
    uid = f"{SERIES}.{n}"
    url = instance_url(base=BASE, study_uid=STUDY, series_uid=SERIES, instance_uid=uid)
    return StoredInstance(sop_class_uid=CT, sop_instance_uid=uid, retrieve_url=url, **kw)  # type: ignore[arg-type]


MIXED = StoreResponse(
    retrieve_url=study_url(base=BASE, study_uid=STUDY),
    stored=(_stored(1), _stored(2, note="already stored")),
    failed=(
        FailedInstance(
            sop_class_uid=None,
            sop_instance_uid=None,
            failure_reason=FailureReason.CANNOT_UNDERSTAND,
            note="not a DICOM file",
        ),
        FailedInstance(
            sop_class_uid=CT,
            sop_instance_uid=SERIES + ".9",
            failure_reason=FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
        ),
    ),
)


def test_urls() -> None:
    assert study_url(base=BASE + "/", study_uid=STUDY) == f"{BASE}/studies/{STUDY}"
    assert instance_url(base=BASE, study_uid="1.2", series_uid="1.3", instance_uid="1.4") == (
        f"{BASE}/studies/1.2/series/1.3/instances/1.4"
    )


def test_json_response_structure() -> None:
    body = stow_response_json(MIXED)
    assert list(body) == ["00081190", "00081198", "00081199"]
    assert body["00081190"] == {"vr": "UR", "Value": [f"{BASE}/studies/{STUDY}"]}
    failed = body["00081198"]["Value"]
    assert failed[0]["00081197"] == {"vr": "US", "Value": [0xC000]}
    assert failed[0]["00081155"] == {"vr": "UI"}  # unknown UID: attribute present, no value
    assert failed[0]["00091001"]["Value"] == ["not a DICOM file"]
    assert failed[1]["00081155"]["Value"] == [SERIES + ".9"]
    assert failed[1]["00081197"]["Value"] == [0xA900]
    refs = body["00081199"]["Value"]
    assert refs[0]["00081190"]["Value"][0].endswith(f"/instances/{SERIES}.1")
    assert "00081196" not in refs[1]  # identical re-store is a plain success
    assert refs[1]["00090010"]["Value"] == ["YUNYING"]
    json.dumps(body)  # serialisable as is


def test_json_response_is_a_valid_dicom_json_dataset() -> None:
    ds = Dataset.from_json(stow_response_json(MIXED))
    assert ds.RetrieveURL == f"{BASE}/studies/{STUDY}"
    assert [item.FailureReason for item in ds.FailedSOPSequence] == [0xC000, 0xA900]
    assert ds.ReferencedSOPSequence[0].ReferencedSOPClassUID == CT
    assert len(ds.ReferencedSOPSequence) == 2


@pytest.mark.parametrize(
    ("response", "status"),
    [
        (StoreResponse(retrieve_url="u", stored=(_stored(1),), failed=()), 200),
        (MIXED, 202),
        (
            StoreResponse(
                retrieve_url="u",
                stored=(_stored(1, warning_reason=WarningReason.COERCION_OF_DATA_ELEMENTS),),
                failed=(),
            ),
            202,
        ),
        (StoreResponse(retrieve_url=None, stored=(), failed=MIXED.failed), 409),
        (StoreResponse(retrieve_url=None, stored=(), failed=()), 400),
    ],
)
def test_http_status(response: StoreResponse, status: int) -> None:
    assert stow_http_status(response) == status


def test_nothing_stored_has_no_retrieve_url() -> None:
    body = stow_response_json(StoreResponse(retrieve_url="ignored", stored=(), failed=MIXED.failed))
    assert "00081190" not in body
    assert "00081199" not in body


def test_warning_reason_is_emitted() -> None:
    response = StoreResponse(
        retrieve_url="u", stored=(_stored(1, warning_reason=WarningReason.ELEMENTS_DISCARDED),), failed=()
    )
    item = stow_response_json(response)["00081199"]["Value"][0]
    assert item["00081196"] == {"vr": "US", "Value": [0xB006]}


def test_xml_response_native_dicom_model() -> None:
    text = stow_response_xml(MIXED)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text)
    ns = {"n": NATIVE_DICOM_NS}
    assert root.tag == f"{{{NATIVE_DICOM_NS}}}NativeDicomModel"
    top = {a.get("tag"): a for a in root.findall("n:DicomAttribute", ns)}
    assert top["00081190"].get("keyword") == "RetrieveURL"
    assert top["00081190"].find("n:Value", ns).text == f"{BASE}/studies/{STUDY}"  # type: ignore[union-attr]
    items = top["00081198"].findall("n:Item", ns)
    assert [i.get("number") for i in items] == ["1", "2"]
    reasons = [i.find("n:DicomAttribute[@tag='00081197']/n:Value", ns).text for i in items]  # type: ignore[union-attr]
    assert reasons == [str(0xC000), str(0xA900)]
    note = items[0].find("n:DicomAttribute[@tag='00091001']", ns)
    assert note is not None
    assert note.get("privateCreator") == "YUNYING"


def test_dataset_to_json_without_pixels_and_with_bulk_uri() -> None:
    parsed = parse_instance(path=fixture("pydicom/CT_small.dcm"))
    model = dataset_to_json(
        parsed.dataset,
        bulk_data_uri=lambda tag: f"{BASE}/bulk/{tag:08X}",
        pixel_data_uri=f"{BASE}/studies/{parsed.study_instance_uid}/frames/1",
    )
    assert model["7FE00010"] == {"vr": "OW", "BulkDataURI": f"{BASE}/studies/{parsed.study_instance_uid}/frames/1"}
    assert model["00100010"]["Value"] == [{"Alphabetic": "CompressedSamples^CT1"}]
    assert model["0020000D"]["Value"] == [parsed.study_instance_uid]
    assert model["00431029"]["BulkDataURI"] == f"{BASE}/bulk/00431029"  # a large private OB
    inline = [a["InlineBinary"] for a in model.values() if "InlineBinary" in a]
    assert all(len(b) <= 1024 * 4 // 3 + 4 for b in inline)  # only small values inline
    assert json.loads(json.dumps(model)) == model


def test_dataset_to_json_chinese_name_groups() -> None:
    parsed = parse_instance(path=fixture("pydicom/charset/chrX2.dcm"))
    model = dataset_to_json(parsed.dataset, bulk_data_uri=None)
    assert model["00100010"]["Value"] == [{"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小东"}]
    xml_text = json_to_native_xml({"00100010": model["00100010"]})
    assert "<Ideographic><FamilyName>王</FamilyName><GivenName>小东</GivenName></Ideographic>" in xml_text


def test_deferred_and_large_binary_values_become_bulk_data_without_reading_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "overlay.dcm"
    shutil.copy(fixture("pydicom/examples_overlay.dcm"), copy)
    parsed = parse_instance(path=copy, limits=ParseLimits(defer_bytes=4096))
    copy.unlink()  # proves nothing is read from disk any more
    model = dataset_to_json(parsed.dataset, bulk_data_uri=lambda tag: f"bulk/{tag:08X}")
    overlay = model["60003000"]
    assert overlay["BulkDataURI"] == "bulk/60003000"
    assert "Value" not in overlay
    without = dataset_to_json(parsed.dataset, bulk_data_uri=None)
    assert "60003000" not in without
    assert without["00100010"] == model["00100010"]
