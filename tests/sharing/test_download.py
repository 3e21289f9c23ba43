"""Downloads: the original DICOM as a ZIP a hospital workstation imports like a CD (DICOMDIR)."""

from __future__ import annotations

import gc
import io
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.fileset import FileSet

from backend.sharing.dicomdir import Entry, build
from tests.family import helpers as h
from tests.sharing.world import CT_3SLICE, ShareWorld, open_share, token_of


def _unzip(data: bytes, folder: Path) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    archive.extractall(folder)
    return archive


def test_download_forbidden_unless_allowed(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(allow_download=False)
    open_share(doctor, token_of(made['url']))
    res = doctor.get("/api/v1/share/download.zip")
    assert res.status_code == 403 and h.code(res) == "share-download-forbidden"
    res = doctor.get(f"/api/v1/share/studies/{world.studies['a']}/download.zip")
    assert res.status_code == 403


def test_zip_of_all_shared_studies_has_a_dicomdir_naming_every_instance(
    world: ShareWorld, doctor: TestClient, tmp_path: Path
) -> None:
    made = world.create(study_ids=[world.studies["a"], world.studies["b"]], allow_download=True)
    open_share(doctor, token_of(made['url']))
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
    open_share(doctor, token_of(made['url']))
    res = doctor.get(f"/api/v1/share/studies/{world.studies['a']}/download.zip")
    assert res.status_code == 200
    _unzip(res.content, tmp_path)
    fileset = FileSet(pydicom.dcmread(tmp_path / "DICOMDIR"))
    assert len(list(fileset)) == 3 and all(i.load().pixel_array.shape == (512, 512) for i in fileset)
    assert doctor.get(f"/api/v1/share/studies/{world.studies['b']}/download.zip").status_code == 404
    assert doctor.get(f"/api/v1/share/studies/{world.studies['other']}/download.zip").status_code == 404


def test_downloads_are_in_the_patients_trace(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(allow_download=True)
    open_share(doctor, token_of(made['url']))
    assert doctor.get("/api/v1/share/download.zip").status_code == 200
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()
    views = next(i for i in listed["items"] if i["id"] == made["id"])["views"]
    assert "share.download" in {v["event_type"] for v in views}


def test_patient_session_is_not_a_share_session(world: ShareWorld) -> None:
    res = world.client.get("/api/v1/share/download.zip", headers=world.owner_headers())
    assert res.status_code == 401


def test_a_cancelled_download_leaves_nothing_behind(
    world: ShareWorld, doctor: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is written anywhere while a ZIP is made: the DICOMDIR is built in memory from the
    index, the ZIP streams from the blob store."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    made_dirs: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: Any, **kwargs: Any) -> str:
        made_dirs.append(real_mkdtemp(*args, **kwargs))
        return made_dirs[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    made = world.create(study_ids=[world.studies["a"], world.studies["b"]], allow_download=True)
    open_share(doctor, token_of(made['url']))
    with doctor.stream("GET", "/api/v1/share/download.zip") as res:
        assert res.status_code == 200
        first = next(res.iter_bytes())
        assert first[:4] == b"PK\x03\x04"
    gc.collect()
    assert made_dirs == []
    assert list(scratch.iterdir()) == []


def test_dicomdir_builds_in_linear_time_and_links_every_record(tmp_path: Path) -> None:
    """1500 instances in 3 studies: every IMAGE record is reachable from the root through the
    offsets (pydicom's FileSet walks them), each once, with its file ID."""
    entries = []
    for i in range(1500):
        study = i % 3
        entries.append(Entry(
            file_id=("PT000000", f"ST{study:06d}", "SE000000", f"IM{i // 3:06d}"), patient_id="99000",
            patient_name="Zhang^Wei", study_uid=f"1.2.3.{study}", study_date=None, study_time=None, study_id="1",
            accession="A1", study_description="CT", series_uid=f"1.2.3.{study}.1", modality="CT", series_number=1,
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2", sop_instance_uid=f"1.2.3.{study}.1.{i}",
            transfer_syntax_uid="1.2.840.10008.1.2.1", instance_number=i // 3))
    entries.sort(key=lambda e: e.file_id)
    started = time.perf_counter()
    data = build(entries, fileset_id="YUNYING")
    elapsed = time.perf_counter() - started
    for e in entries:
        path = tmp_path.joinpath(*e.file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    (tmp_path / "DICOMDIR").write_bytes(data)
    fileset = FileSet(pydicom.dcmread(tmp_path / "DICOMDIR"))
    found = {inst.SOPInstanceUID: inst.FileID for inst in fileset}
    assert found == {e.sop_instance_uid: os.sep.join(e.file_id) for e in entries}
    assert elapsed < 30  # measured ~1.5 s; pydicom's FileSet.add takes over a minute for this many
