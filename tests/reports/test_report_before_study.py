"""End to end with real DICOM: report first, images through STOW-RS, registration last — the study
joins the person's timeline with its report."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.ingest.test_stow import CT_3SLICE, stow
from tests.records.helpers import ZHANG_WEI, hospital, read_as, register, report_body

ACCESSION = "03086212"  # (0008,0050) of the dcmqi CT fixture; PatientID 99000


def test_report_stow_then_registration(client: TestClient, app: FastAPI, engine: Engine) -> None:
    _, key = hospital(engine, "南京市第一医院")
    r = client.put(f"/api/v1/institution/reports/{ACCESSION}", headers=key, json=report_body())
    assert r.status_code == 201 and r.json()["study_id"] is None
    status, _ = stow(client, key["Authorization"].removeprefix("Bearer "), [p.read_bytes() for p in CT_3SLICE])
    assert status == 200
    assert client.put(f"/api/v1/institution/reports/{ACCESSION}", headers=key,
                      json=report_body()).json()["study_id"] is not None  # matched when the images came

    person = register(client, key, "99000", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    [item] = client.get(f"/api/v1/people/{person}/timeline").json()["items"]
    assert (item["kind"], item["status"], item["data"]["modalities"]) == ("imaging_study", "final", ["CT"])
    assert item["occurred_at"].startswith("2003-04-1")
    detail = client.get(item["detail_url"]).json()
    assert detail["accession_number"] == ACCESSION
    assert [s["instance_count"] for s in detail["series"]] == [3]
    assert detail["report"]["impression"] == "胸部CT平扫未见明显异常。"
