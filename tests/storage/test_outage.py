"""The object store stopped (the SeaweedFS process killed) and started again: every request that needs it
answers 503 problem+json with Retry-After — never a 500, never a half-stored study — /healthz says so,
and everything works again without restarting the service."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from backend.config import Settings, load_settings
from backend.db import session_scope
from backend.studies.models import Instance, Study
from tests.family import helpers as h
from tests.ingest.test_stow_live import _parts
from tests.sharing.world import CT_3SLICE, ct_copy
from tests.storage.conftest import S3Server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_url: str) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", storage_url=s3_url)


def _stow(client: TestClient, headers: dict[str, str], parts: list[bytes]) -> object:
    boundary = "yy-outage"
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts)
    return client.post("/dicomweb/studies", content=body + f"--{boundary}--\r\n".encode(), headers={
        **headers, "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})


def _count(engine: Engine, study_uid: str) -> int:
    with session_scope(engine, readonly=True) as s:
        query = select(func.count()).select_from(Instance).join(Study, col(Instance.study_id) == col(Study.id))
        return int(s.exec(query.where(col(Study.study_instance_uid) == study_uid)).one())


def _unavailable(response: object) -> None:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.headers["retry-after"]  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    assert response.json()["code"] == "storage-unavailable"  # type: ignore[attr-defined]


def test_store_down_is_503_and_back_without_restart(client: TestClient, engine: Engine, s3_server: S3Server) -> None:
    if s3_server.seaweed is None:
        pytest.skip("an external S3 server: the test does not stop it")
    inst = h.hospital(engine)
    assert _stow(client, inst.headers, [p.read_bytes() for p in CT_3SLICE]).status_code == 200
    import pydicom

    first = pydicom.dcmread(CT_3SLICE[0], stop_before_pixels=True)
    uid, series, sop = first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID
    other_uid = pydicom.uid.generate_uid()
    other = ct_copy(patient_id="99000", study_uid=other_uid)

    s3_server.seaweed.kill()  # kill -9, as a crash does
    try:
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["storage"] == "error"
        _unavailable(_stow(client, inst.headers, other))
        assert _count(engine, other_uid) == 0  # no row without its object
        _unavailable(client.get(f"/dicomweb/studies/{uid}", headers=inst.headers))
        _unavailable(client.get(f"/dicomweb/studies/{uid}/series/{series}/metadata", headers=inst.headers))
        octets = 'multipart/related; type="application/octet-stream"'
        _unavailable(client.get(f"/dicomweb/studies/{uid}/series/{series}/instances/{sop}/frames/1",
                                headers={**inst.headers, "Accept": octets}))
        _unavailable(client.get(f"/dicomweb/studies/{uid}/series/{series}/instances/{sop}/rendered",
                                headers={**inst.headers, "Accept": "image/jpeg"}))
    finally:
        s3_server.seaweed.start()

    assert client.get("/healthz").status_code == 200
    assert _stow(client, inst.headers, other).status_code == 200  # the hospital's retry completes the study
    assert _count(engine, other_uid) == 3
    whole = client.get(f"/dicomweb/studies/{other_uid}", headers=inst.headers)
    assert {hashlib.sha256(p).hexdigest() for p in _parts(whole.content, whole.headers["content-type"])} == \
        {hashlib.sha256(p).hexdigest() for p in other}
    rendered = client.get(f"/dicomweb/studies/{uid}/series/{series}/instances/{sop}/rendered",
                          headers={**inst.headers, "Accept": "image/jpeg"})
    assert rendered.status_code == 200 and rendered.content[:2] == b"\xff\xd8"
