"""WADO-RS: instances come back as the exact original bytes in multipart/related; metadata as DICOM
JSON with Chinese names decoded; other hospitals get 404; unacceptable media types get 406."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from pydicom import dcmread
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.models import AuditEvent
from backend.db import session_scope
from tests.conftest import DICOM
from tests.ingest.test_stow import hospital, stow
from tests.ingest.test_stow_live import _parts

CT = sorted((DICOM / "dcmqi" / "ct-3slice").glob("*.dcm"))
CHINESE = DICOM / "pydicom" / "charset" / "chrX2.dcm"
BIG_ENDIAN = DICOM / "pydicom" / "MR_small_bigendian.dcm"


def test_retrieve_study_series_instance_bytes_exactly(client: TestClient, engine: Engine) -> None:
    key = hospital(engine).api_key
    assert stow(client, key, [p.read_bytes() for p in CT])[0] == 200
    auth = {"Authorization": f"Bearer {key}"}
    head = dcmread(CT[1], stop_before_pixels=True)
    study, series, sop = head.StudyInstanceUID, head.SeriesInstanceUID, head.SOPInstanceUID
    whole = client.get(f"/dicomweb/studies/{study}", headers=auth)
    assert whole.status_code == 200 and whole.headers["cache-control"] == "no-store"
    assert 'type="application/dicom"' in whole.headers["content-type"]
    digests = {hashlib.sha256(p).hexdigest() for p in _parts(whole.content, whole.headers["content-type"])}
    assert digests == {hashlib.sha256(p.read_bytes()).hexdigest() for p in CT}
    assert b"transfer-syntax=1.2.840.10008.1.2\r\n" in whole.content  # these files are Implicit VR LE
    one = client.get(f"/dicomweb/studies/{study}/series/{series}/instances/{sop}",
                     headers={**auth, "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert _parts(one.content, one.headers["content-type"]) == [CT[1].read_bytes()]
    by_series = client.get(f"/dicomweb/studies/{study}/series/{series}", headers=auth)
    assert len(_parts(by_series.content, by_series.headers["content-type"])) == 3
    refused = client.get(f"/dicomweb/studies/{study}", headers={**auth, "Accept": "image/jpeg"})
    assert refused.status_code == 406
    with session_scope(engine) as s:
        assert len(s.exec(select(AuditEvent).where(AuditEvent.event_type == "dicom.wado")).all()) == 3


def test_metadata_is_dicom_json_with_decoded_chinese(client: TestClient, engine: Engine) -> None:
    key = hospital(engine).api_key
    assert stow(client, key, [CHINESE.read_bytes(), BIG_ENDIAN.read_bytes()])[0] == 200
    auth = {"Authorization": f"Bearer {key}"}
    head = dcmread(CHINESE, stop_before_pixels=True)
    response = client.get(f"/dicomweb/studies/{head.StudyInstanceUID}/metadata", headers=auth)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/dicom+json")
    [item] = [m for m in response.json() if m["00080018"]["Value"][0] == head.SOPInstanceUID]
    assert item["00100010"]["Value"][0]["Ideographic"] == "王^小东"
    assert "7FE00010" not in item  # no pixel data inline
    big = dcmread(BIG_ENDIAN, stop_before_pixels=True)
    meta = client.get(f"/dicomweb/studies/{big.StudyInstanceUID}/series/{big.SeriesInstanceUID}/instances/"
                      f"{big.SOPInstanceUID}/metadata", headers=auth)
    assert meta.status_code == 200 and meta.json()[0]["00280010"]["Value"] == [big.Rows]


def test_other_hospital_gets_404_for_existing_study(client: TestClient, engine: Engine) -> None:
    key = hospital(engine).api_key
    stow(client, key, [CT[0].read_bytes()])
    head = dcmread(CT[0], stop_before_pixels=True)
    other = {"Authorization": f"Bearer {hospital(engine, '外院').api_key}"}
    for path in (f"/dicomweb/studies/{head.StudyInstanceUID}",
                 f"/dicomweb/studies/{head.StudyInstanceUID}/metadata",
                 f"/dicomweb/studies/{head.StudyInstanceUID}/series/{head.SeriesInstanceUID}/instances/"
                 f"{head.SOPInstanceUID}"):
        assert client.get(path, headers=other).status_code == 404
    assert client.get(f"/dicomweb/studies/{head.StudyInstanceUID}/series/9.9.9",
                      headers={"Authorization": f"Bearer {key}"}).status_code == 404
