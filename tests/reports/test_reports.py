"""Diagnostic reports from a hospital's RIS: before or after the images, idempotent, with history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.models import AuditEvent
from backend.db import session_scope
from tests.records.helpers import WANG_FANG, ZHANG_WEI, hospital, make_study, read_as, register, report_body

CST = timezone(timedelta(hours=8))
UID = "1.2.826.0.1.3680043.8.498.1001"


def test_report_before_images_joins_the_study_when_it_arrives(client: httpx.Client, app: FastAPI,
                                                               engine: Engine) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    r = client.put("/api/v1/institution/reports/A2024001", headers=key, json=report_body(local_patient_id="P1"))
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["changed"], r.json()["study_id"]) == (1, True, None)

    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    study_id = make_study(engine, institution_id=inst, uid=UID, local_patient_id="P1", accession="A2024001",
                          when=datetime(2024, 3, 2, 9, 0, tzinfo=CST), description="胸部CT平扫")
    read_as(app, engine, person)
    timeline = client.get(f"/api/v1/people/{person}/timeline").json()
    [item] = timeline["items"]
    assert (item["kind"], item["ref_id"], item["status"]) == ("imaging_study", study_id, "final")
    assert item["summary"] == "胸部CT平扫未见明显异常。"
    assert item["data"]["mutual_recognition_mark"] == "苏HR"

    detail = client.get(f"/api/v1/people/{person}/studies/{study_id}")
    assert detail.status_code == 200
    body = detail.json()
    assert body["report"]["findings"].startswith("双肺纹理清晰")
    assert body["report"]["reviewing_physician"] == "王强"
    assert [s["number"] for s in body["series"]] == [1]
    assert body["series"][0]["previews"] == {}
    assert detail.headers["cache-control"] == "no-store"
    with session_scope(engine) as s:
        events = s.exec(select(AuditEvent.event_type).where(AuditEvent.person_id == person)).all()
    assert "study.read" in events and "timeline.read" in events


def test_report_after_images_by_study_uid(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    inst, key = hospital(engine, "江苏省人民医院")
    person = register(client, key, "P9", ZHANG_WEI, "张伟")
    study_id = make_study(engine, institution_id=inst, uid=UID, local_patient_id="P9",
                          when=datetime(2023, 5, 1, 8, 0, tzinfo=CST))
    read_as(app, engine, person)
    before = client.get(f"/api/v1/people/{person}/timeline").json()["items"][0]
    assert (before["status"], before["summary"]) == ("no_report", "报告未出")

    r = client.put(f"/api/v1/institution/reports/by-study-uid/{UID}", headers=key,
                   json=report_body(impression="右肺上叶小结节，建议随访。"))
    assert r.status_code == 201 and r.json()["study_id"] == study_id
    after = client.get(f"/api/v1/people/{person}/timeline").json()["items"][0]
    assert (after["status"], after["summary"]) == ("final", "右肺上叶小结节，建议随访。")


def test_put_is_idempotent_and_amendments_keep_history(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "南京鼓楼医院")
    url = "/api/v1/institution/reports/ACC-7"
    first = client.put(url, headers=key, json=report_body(status="preliminary"))
    again = client.put(url, headers=key, json=report_body(status="preliminary"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert (again.json()["version"], again.json()["changed"]) == (1, False)
    final = client.put(url, headers=key, json=report_body(status="final"))
    amended = client.put(url, headers=key, json=report_body(status="amended", impression="更正：左肺下叶少许纤维灶。"))
    assert [final.json()["version"], amended.json()["version"]] == [2, 3]
    back = client.put(url, headers=key, json=report_body(status="preliminary"))
    assert back.status_code == 409 and back.json()["type"].endswith("report-already-final")

    versions = client.get(url + "/versions", headers=key).json()
    assert [(v["version"], v["status"]) for v in versions] == [(1, "preliminary"), (2, "final"), (3, "amended")]
    assert versions[0]["content"]["impression"] == "胸部CT平扫未见明显异常。"
    current = client.get(url, headers=key).json()
    assert (current["status"], current["impression"]) == ("amended", "更正：左肺下叶少许纤维灶。")


def test_bad_reports_get_clear_4xx_and_nothing_is_stored(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "苏州大学附属第一医院")
    other_inst, other_key = hospital(engine, "无锡市人民医院")
    del other_inst
    url = "/api/v1/institution/reports/X1"
    assert client.put(url, json=report_body()).status_code == 401
    assert client.put(url, headers=key, json=report_body(status="draft")).status_code == 422
    assert client.put(url, headers=key, json=report_body(impression="")).status_code == 422
    assert client.put(url, headers=key, json=report_body(unknown_field=1)).status_code == 422
    assert client.put(url, headers=key, json=report_body(accession_number="X2")).status_code == 400
    assert client.put("/api/v1/institution/reports/by-study-uid/1.2.abc", headers=key,
                      json=report_body()).status_code == 422
    assert client.get(url, headers=key).status_code == 404
    assert client.put(url, headers=key, json=report_body()).status_code == 201
    naive = client.put("/api/v1/institution/reports/X3", headers=key, json=report_body(reported_at="2024-03-02T10:15"))
    assert naive.status_code == 201  # no offset: China time, stored aware
    stored_at = client.get("/api/v1/institution/reports/X3", headers=key).json()["reported_at"]
    assert stored_at.startswith("2024-03-02T02:15")
    with_uid = client.put("/api/v1/institution/reports/X4", headers=key, json=report_body(study_instance_uid="1.2.3"))
    assert with_uid.status_code == 201
    moved = client.put("/api/v1/institution/reports/X4", headers=key, json=report_body(study_instance_uid="1.2.4"))
    assert moved.status_code == 409 and moved.json()["type"].endswith("report-study-conflict")
    # Another hospital neither sees nor overwrites it: same accession there is its own report.
    assert client.get(url, headers=other_key).status_code == 404


def test_another_persons_study_is_404(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    me = register(client, key, "P1", ZHANG_WEI, "张伟")
    register(client, key, "P2", WANG_FANG, "王芳")
    hers = make_study(engine, institution_id=inst, uid=UID, local_patient_id="P2",
                      when=datetime(2022, 1, 1, tzinfo=CST))
    read_as(app, engine, me)
    assert client.get(f"/api/v1/people/{me}/studies/{hers}").status_code == 404
    assert client.get(f"/api/v1/people/{me}/studies/{hers}/priors").status_code == 404
    assert client.get(f"/api/v1/people/{me}/studies/{'0' * 32}").status_code == 404
