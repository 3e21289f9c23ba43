"""DICOMweb through a doctor's share session (issue 15, item 2).

* ``allow_download: false`` means no original files anywhere: WADO-RS retrieve of a study, a series or
  an instance (Part-10 in multipart/related) is refused with 403, like the ZIP downloads; the rendered
  images and thumbnails the in-browser viewer uses stay. With ``allow_download`` the originals come
  back byte for byte.
* Metadata (WADO-RS /metadata at every level) and QIDO-RS results of a share session are masked like
  the share page: the name like ``mask_name``, resident IDs ``3201**********0013`` wherever they are,
  phone, address and the other direct identifiers of backend/sharing/masking.py removed; searching by
  a masked attribute cannot confirm a guess. Hospitals see their uploads unmasked.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from tests.family import helpers as h
from tests.sharing.world import CT_3SLICE, PATIENT_ID, ShareWorld, token_of

PHONE = "13912345678"
ADDRESS = "南京市玄武区中山路 1 号"
DICOM_JSON = "application/dicom+json"


def _rid() -> str:
    return h.rid_for(h.years_ago(62, days=40), sequence=11)  # the world's 张伟 (tests/sharing/world.py)


def _masked(rid: str) -> str:
    return f"{rid[:4]}**********{rid[-4:]}"


def _identified_copy(study_uid: str) -> list[bytes]:
    """The fixture CT as a study whose header carries everything a hospital's PACS might put there."""
    rid = _rid()
    series_uid = generate_uid()
    out = []
    for path in CT_3SLICE:
        ds = pydicom.dcmread(path)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientID = PATIENT_ID
        ds.PatientName = "Zhang^Wei=张^伟"
        ds.PatientBirthDate = "19620315"
        ds.OtherPatientIDs = [rid, "NJ-0099"]
        item = Dataset()
        item.PatientID = rid
        item.IssuerOfPatientID = "CN-RID"
        item.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = Sequence([item])
        ds.PatientTelephoneNumbers = PHONE
        ds.PatientTelecomInformation = f"tel:{PHONE}"
        ds.PatientAddress = ADDRESS
        ds.OtherPatientNames = "张大伟"
        ds.PatientComments = f"身份证 {rid}，家属电话 13800138000"
        ds.add_new(0x00110010, "LO", "ACME PACS")
        ds.add_new(0x00111001, "LO", f"张伟 {rid}")
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


def _open(doctor: TestClient, made: dict[str, Any]) -> None:
    assert doctor.post(f"/s/{token_of(made['url'])}/session", json={}).status_code == 200


@pytest.fixture
def uid(world: ShareWorld) -> str:
    study_uid = generate_uid()
    world.upload(_identified_copy(study_uid))
    return study_uid


def _study_id(world: ShareWorld, uid: str) -> str:
    found = world.client.get(f"/dicomweb/studies?StudyInstanceUID={uid}&includefield=all",
                             headers=world.inst.headers).json()
    assert found, uid
    from sqlmodel import select

    from backend.db import session_scope
    from backend.studies.models import Study

    with session_scope(world.engine, readonly=True) as s:
        return s.exec(select(Study.id).where(Study.study_instance_uid == uid)).one()


def _levels(client: TestClient, headers: dict[str, str], uid: str) -> tuple[str, str, str]:
    series = client.get(f"/dicomweb/studies/{uid}/series", headers=headers).json()[0]["0020000E"]["Value"][0]
    instance = client.get(f"/dicomweb/studies/{uid}/series/{series}/instances",
                          headers=headers).json()[0]["00080018"]["Value"][0]
    study = f"/dicomweb/studies/{uid}"
    return study, f"{study}/series/{series}", f"{study}/series/{series}/instances/{instance}"


def test_without_download_no_part10_at_any_level(world: ShareWorld, doctor: TestClient, uid: str) -> None:
    _open(doctor, world.create(study_ids=[_study_id(world, uid)], allow_download=False))
    for url in _levels(doctor, {}, uid):
        for accept in (None, 'multipart/related; type="application/dicom"', "*/*"):
            res = doctor.get(url, headers={"Accept": accept} if accept else {})
            assert res.status_code == 403, (url, accept, res.status_code)
            assert res.headers["content-type"].startswith("application/problem+json")
            assert h.code(res) == "share-download-forbidden" and res.json()["message"]["zh"]
            assert b"DICM" not in res.content
    # refused before the study is looked at: another study (not shared) is the same 403, not a 404
    assert doctor.get(f"/dicomweb/studies/{world.uids['other']}").status_code == 403
    # the ZIP downloads are refused as before; the viewer's rendered images stay
    assert doctor.get("/api/v1/share/download.zip").status_code == 403
    study, series, instance = _levels(doctor, {}, uid)
    for url in (f"{study}/rendered", f"{series}/thumbnail", f"{instance}/rendered", f"{instance}/frames/1/rendered"):
        res = doctor.get(url)
        assert res.status_code == 200 and res.headers["content-type"].startswith(("image/", "multipart/related")), url


def test_with_download_the_originals_come_back_byte_for_byte(world: ShareWorld, doctor: TestClient) -> None:
    _open(doctor, world.create(study_ids=[world.studies["a"]], allow_download=True))
    res = doctor.get(f"/dicomweb/studies/{world.uids['a']}")
    assert res.status_code == 200 and res.headers["content-type"].startswith("multipart/related")
    originals = {p.read_bytes() for p in CT_3SLICE}
    assert sum(original in res.content for original in originals) == 3


def _flat(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


def _assert_masked(body: list[dict[str, Any]], rid: str, *, carries_ids: bool = True) -> None:
    text = _flat(body)
    assert rid not in text and (_masked(rid) in text or not carries_ids)
    for secret in (PHONE, "13800138000", ADDRESS, "19620315", "张大伟", "Zhang^Wei", "张^伟", "ACME PACS"):
        assert secret not in text, secret
    for item in body:
        name = item.get("00100010", {}).get("Value", [{}])[0]
        assert name in ({"Alphabetic": "Z*******", "Ideographic": "张*"}, {}), name
        for tag in ("00102154", "00102155", "00101040", "00110010", "00111001"):
            assert tag not in item, tag
        if "00100030" in item:
            assert "Value" not in item["00100030"]  # the birth date is emptied: the page shows the age


def test_share_metadata_is_masked_at_every_level(world: ShareWorld, doctor: TestClient, uid: str) -> None:
    rid = _rid()
    _open(doctor, world.create(study_ids=[_study_id(world, uid)], allow_download=True))
    for url in _levels(doctor, {}, uid):
        res = doctor.get(f"{url}/metadata")
        assert res.status_code == 200 and res.headers["content-type"].startswith(DICOM_JSON), url
        body = res.json()
        assert body and all(i["00100020"]["Value"] == [PATIENT_ID] for i in body)  # the hospital's number stays
        _assert_masked(body, rid)
        other_ids = body[0]["00101000"]["Value"]
        assert other_ids == [_masked(rid), "NJ-0099"]
        assert body[0]["00101002"]["Value"][0]["00100020"]["Value"] == [_masked(rid)]
        assert re.search(r"139\*{4}5678|138\*{4}8000", _flat(body[0].get("00104000", {}))) or "00104000" not in body[0]


def test_share_qido_results_are_masked_and_masked_attributes_cannot_be_searched(
    world: ShareWorld, doctor: TestClient, uid: str
) -> None:
    rid = _rid()
    _open(doctor, world.create(study_ids=[_study_id(world, uid)]))
    for url in ("/dicomweb/studies?includefield=all", f"/dicomweb/studies/{uid}/series?includefield=all",
                f"/dicomweb/studies/{uid}/instances?includefield=all", "/dicomweb/instances?includefield=all"):
        res = doctor.get(url)
        assert res.status_code == 200 and res.json(), url
        _assert_masked(res.json(), rid, carries_ids=False)  # QIDO answers from the index: no other IDs
    studies = doctor.get("/dicomweb/studies").json()
    assert studies[0]["00100010"]["Value"] == [{"Alphabetic": "Z*******", "Ideographic": "张*"}]
    # guessing the full name, the birth date or the resident ID: the same answer whatever the guess
    for key, right, wrong in (("PatientName", "张^伟", "李^四"), ("PatientBirthDate", "19620315", "19700101"),
                              ("PatientID", PATIENT_ID, "nobody"), ("00100010", "Zhang*", "Li*")):
        a, b = doctor.get(f"/dicomweb/studies?{key}={right}"), doctor.get(f"/dicomweb/studies?{key}={wrong}")
        assert a.status_code == b.status_code == 200 and a.json() == b.json(), key
        assert "299" in a.headers.get("warning", "")


def test_hospitals_see_their_uploads_unmasked(world: ShareWorld, uid: str) -> None:
    rid = _rid()
    study, _, _ = _levels(world.client, world.inst.headers, uid)
    meta = world.client.get(f"{study}/metadata", headers=world.inst.headers).json()
    text = _flat(meta)
    assert rid in text and PHONE in text and ADDRESS in text and "Zhang^Wei" in text
    found = world.client.get(f"/dicomweb/studies?PatientName=Zhang*&StudyInstanceUID={uid}",
                             headers=world.inst.headers).json()
    assert len(found) == 1 and found[0]["00100010"]["Value"][0]["Alphabetic"] == "Zhang^Wei"
    assert world.client.get(study, headers=world.inst.headers).status_code == 200


ACCEPTS = (None, "*/*", 'multipart/related; type="application/dicom"', "application/dicom",
           "application/octet-stream", "application/zip", 'multipart/related; type="application/octet-stream"')


def _part10(res: Any) -> str | None:
    """Why an answer carries original files, or None."""
    media = res.headers.get("content-type", "")
    if "application/dicom" in media and "json" not in media and "xml" not in media:
        return media
    if "application/zip" in media or res.content[:2] == b"PK":
        return "zip"
    if b"DICM" in res.content:  # the Part-10 preamble marker (PS3.10 §7.1), alone or in a multipart body
        return "DICM"
    return None


def test_no_route_gives_a_share_session_without_download_original_files(
    world: ShareWorld, doctor: TestClient, client: TestClient, uid: str
) -> None:
    """Every GET route of the app, its path filled with the shared study's ids, with each Accept a
    client might send: nothing answers Part-10 DICOM or a ZIP to this session — a route added later is
    swept too. (The same sweep with downloads allowed finds the originals, proving it can fail.)"""
    study_id = _study_id(world, uid)
    study, series, instance = _levels(world.client, world.inst.headers, uid)
    with_download = world.create(study_ids=[study_id], allow_download=True)
    detail = world.client.get(f"/api/v1/people/{world.person_id}/studies/{study_id}",
                              headers=world.owner_headers()).json()
    values = {"person_id": world.person_id, "study_id": study_id, "study": uid, "series": series.rsplit("/", 1)[-1],
              "instance": instance.rsplit("/", 1)[-1], "series_id": detail["series"][0]["id"], "frames": "1",
              "frame": "0", "window": "default", "name": "512.jpg", "token": token_of(with_download["url"]),
              "share_id": with_download["id"]}
    spec = client.app.openapi()  # type: ignore[attr-defined]
    routes = [path for path, ops in spec["paths"].items() if "get" in ops
              and not path.startswith(("/_sim", "/auth", "/wechat"))]
    assert len(routes) > 40

    def sweep(browser: TestClient) -> list[str]:
        found = []
        for url in routes:
            url = re.sub(r"\{(\w+)(:path)?\}", lambda m: values.get(m.group(1), "x"), url)
            for accept in ACCEPTS:
                res = browser.get(url, headers={"Accept": accept} if accept else {}, follow_redirects=False)
                why = _part10(res)
                if why and res.status_code < 400:
                    found.append(f"{url} [{accept}]: {res.status_code} {why}")
        return found

    _open(doctor, world.create(study_ids=[study_id], allow_download=False))
    assert sweep(doctor) == []
    from tests.sharing.conftest import browser

    with browser(client.app) as allowed:
        _open(allowed, with_download)
        leaks = sweep(allowed)
    assert any(item.startswith(f"{study} ") for item in leaks) and any("zip" in item for item in leaks), leaks
