"""QIDO-RS: a hospital searches what it uploaded with the standard matching (exact, wildcards,
date ranges, UID lists, paging, includefield) and sees nothing of other hospitals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.models import AuditEvent
from backend.db import session_scope
from tests.conftest import DICOM
from tests.ingest.test_stow import hospital, stow

TREE = sorted(p for p in (DICOM / "pydicom" / "dicomdirtests").rglob("*") if p.is_file() and p.name != "DICOMDIR")
CHINESE = DICOM / "pydicom" / "charset" / "chrX2.dcm"  # GB18030: Wang^XiaoDong=王^小东


@pytest.fixture
def key(client: TestClient, engine: Engine) -> str:
    issued = hospital(engine)
    status, _ = stow(client, issued.api_key, [p.read_bytes() for p in [*TREE, CHINESE]])
    assert status == 200
    return issued.api_key


def qido(client: TestClient, key: str, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dicom+json")
    assert response.headers["cache-control"] == "no-store"
    body: list[dict[str, Any]] = response.json()
    return body


def values(results: list[dict[str, Any]], tag: str) -> list[Any]:
    return [r[tag]["Value"][0] if "Value" in r[tag] else None for r in results]


def test_study_matching(client: TestClient, key: str) -> None:
    assert len(qido(client, key, "/dicomweb/studies")) == 7
    assert sorted(values(qido(client, key, "/dicomweb/studies", PatientID="98890234"), "00080020")) == [
        "20010101", "20030505", "20030505", "20030505"]
    ranged = qido(client, key, "/dicomweb/studies", StudyDate="20010101-20021231")
    assert sorted(values(ranged, "00080020")) == ["20010101", "20010101"]
    assert len(qido(client, key, "/dicomweb/studies", StudyDate="20030101-")) == 3
    assert len(qido(client, key, "/dicomweb/studies", StudyDate="-19991231")) == 1
    # PN wildcard, case-insensitive (PS3.4 C.2.2.2.4); by the keyword or by the tag.
    assert len(qido(client, key, "/dicomweb/studies", PatientName="doe^pet*")) == 4
    assert len(qido(client, key, "/dicomweb/studies", **{"00100010": "Doe^Archibal?"})) == 2
    assert len(qido(client, key, "/dicomweb/studies", StudyDescription="Brain*")) == 2
    assert len(qido(client, key, "/dicomweb/studies", ModalitiesInStudy="MR")) == 3
    assert len(qido(client, key, "/dicomweb/studies", ModalitiesInStudy="CR,CT")) == 3
    uids = values(qido(client, key, "/dicomweb/studies", PatientID="77654033"), "0020000D")
    listed = qido(client, key, "/dicomweb/studies", StudyInstanceUID=",".join(uids))
    assert sorted(values(listed, "0020000D")) == sorted(uids)
    # The counts a viewer needs, and the retrieve URL.
    mra = qido(client, key, "/dicomweb/studies", StudyDescription="Brain-MRA")[0]
    assert mra["00201208"]["Value"] == [11] and mra["00201206"]["Value"] == [3]
    assert mra["00081190"]["Value"][0].startswith("http://testserver/dicomweb/studies/")


def test_chinese_names_decode_and_includefield(client: TestClient, key: str) -> None:
    [study] = qido(client, key, "/dicomweb/studies", PatientName="王*", includefield="all")
    assert study["00100010"]["Value"][0] == {"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小东"}
    assert "00081030" in study  # StudyDescription only with includefield
    [plain] = qido(client, key, "/dicomweb/studies", PatientName="王*")
    assert "00081030" not in plain


def test_paging_series_and_instances(client: TestClient, key: str) -> None:
    first = qido(client, key, "/dicomweb/studies", limit=3)
    second = qido(client, key, "/dicomweb/studies", limit=3, offset=3)
    rest = qido(client, key, "/dicomweb/studies", limit=3, offset=6)
    seen = values(first + second + rest, "0020000D")
    assert len(first) == 3 and len(seen) == 7 and len(set(seen)) == 7
    [mra] = qido(client, key, "/dicomweb/studies", StudyDescription="Brain-MRA")
    study_uid = mra["0020000D"]["Value"][0]
    all_series = qido(client, key, f"/dicomweb/studies/{study_uid}/series")
    assert values(all_series, "00200011") == [1, 2, 700] and values(all_series, "00201209") == [1, 3, 7]
    [series] = qido(client, key, f"/dicomweb/studies/{study_uid}/series", SeriesNumber="700")
    assert series["00080060"]["Value"] == ["MR"]
    assert len(qido(client, key, "/dicomweb/series", Modality="CT")) == 3  # 4 + 7 images in 1 + 2 series
    series_uid = series["0020000E"]["Value"][0]
    instances = qido(client, key, f"/dicomweb/studies/{study_uid}/series/{series_uid}/instances")
    numbers = values(instances, "00200013")
    assert len(instances) == 7 and numbers == sorted(numbers)
    assert len(qido(client, key, f"/dicomweb/studies/{study_uid}/instances", InstanceNumber="1")) == 3  # one per series
    assert len(qido(client, key, "/dicomweb/instances", SOPInstanceUID=instances[0]["00080018"]["Value"][0])) == 1


def test_other_hospitals_see_nothing_and_reads_are_audited(client: TestClient, engine: Engine, key: str) -> None:
    other = hospital(engine, "另一家医院").api_key
    assert qido(client, other, "/dicomweb/studies") == []
    assert qido(client, other, "/dicomweb/instances") == []
    assert client.get("/dicomweb/studies").status_code == 401
    with session_scope(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.event_type == "dicom.qido")).all()
    assert len(events) == 2


def test_bad_queries_are_400_and_unsupported_ones_warn(client: TestClient, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/dicomweb/studies", params={"NotAKeyword": "x"}, headers=headers).status_code == 400
    assert client.get("/dicomweb/studies", params={"StudyDate": "2001"}, headers=headers).status_code == 400
    assert client.get("/dicomweb/studies", params={"limit": "ten"}, headers=headers).status_code == 400
    warned = client.get("/dicomweb/studies", params={"fuzzymatching": "true", "PatientAge": "045Y"}, headers=headers)
    assert warned.status_code == 200
    assert "299" in warned.headers["warning"] and "PatientAge" in warned.headers["warning"]

