"""Downloads: the original DICOM as a ZIP a hospital workstation imports like a CD (DICOMDIR)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pydicom
from fastapi.testclient import TestClient
from pydicom.fileset import FileSet

from tests.family import helpers as h
from tests.sharing.world import CT_3SLICE, ShareWorld, token_of


def _unzip(data: bytes, folder: Path) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    archive.extractall(folder)
    return archive


def test_download_forbidden_unless_allowed(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(allow_download=False)
    doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
    res = doctor.get("/api/v1/share/download.zip")
    assert res.status_code == 403 and h.code(res) == "share-download-forbidden"
    res = doctor.get(f"/api/v1/share/studies/{world.studies['a']}/download.zip")
    assert res.status_code == 403


def test_zip_of_all_shared_studies_has_a_dicomdir_naming_every_instance(
    world: ShareWorld, doctor: TestClient, tmp_path: Path
) -> None:
    made = world.create(study_ids=[world.studies["a"], world.studies["b"]], allow_download=True)
    doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
    session = doctor.get("/api/v1/share/session").json()
    assert session["download_all_url"] == "/api/v1/share/download.zip"
    res = doctor.get(session["download_all_url"])
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    assert res.headers["cache-control"] == "no-store" and "attachment" in res.headers["content-disposition"]
    archive = _unzip(res.content, tmp_path)
    assert "DICOMDIR" in archive.namelist() and len(archive.namelist()) == 7
    fileset = FileSet(pydicom.dcmread(tmp_path / "DICOMDIR"))
    found = {inst.load().SOPInstanceUID for inst in fileset}
    studies = {inst.StudyInstanceUID for inst in fileset}
    assert len(found) == 6 and studies == {world.uids["a"], world.uids["b"]}
    # byte-exact originals: the fixture files of study A are in the ZIP unchanged
    originals = {p.read_bytes() for p in CT_3SLICE}
    assert originals <= {archive.read(name) for name in archive.namelist() if name != "DICOMDIR"}


def test_zip_of_one_study_and_not_of_an_unshared_one(world: ShareWorld, doctor: TestClient, tmp_path: Path) -> None:
    made = world.create(study_ids=[world.studies["a"]], allow_download=True)
    doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
    res = doctor.get(f"/api/v1/share/studies/{world.studies['a']}/download.zip")
    assert res.status_code == 200
    _unzip(res.content, tmp_path)
    fileset = FileSet(pydicom.dcmread(tmp_path / "DICOMDIR"))
    assert len(list(fileset)) == 3 and all(i.load().pixel_array.shape == (512, 512) for i in fileset)
    assert doctor.get(f"/api/v1/share/studies/{world.studies['b']}/download.zip").status_code == 404
    assert doctor.get(f"/api/v1/share/studies/{world.studies['other']}/download.zip").status_code == 404


def test_downloads_are_in_the_patients_trace(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(allow_download=True)
    doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
    assert doctor.get("/api/v1/share/download.zip").status_code == 200
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()
    views = next(i for i in listed["items"] if i["id"] == made["id"])["views"]
    assert "share.download" in {v["event_type"] for v in views}


def test_patient_session_is_not_a_share_session(world: ShareWorld) -> None:
    res = world.client.get("/api/v1/share/download.zip", headers=world.owner_headers())
    assert res.status_code == 401
