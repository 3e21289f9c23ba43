"""A RIS sending a report under keys that already belong to another report: 409 problem+json, never a
500 from the database's unique constraints, and the reports already stored are left as they were."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.db import session_scope
from backend.reports.models import DiagnosticReport
from tests.records.helpers import hospital, report_body

UID = "1.2.826.0.1.3680043.8.498.7001"
UID2 = "1.2.826.0.1.3680043.8.498.7002"


def _assert_conflict(res: httpx.Response) -> None:
    assert res.status_code == 409, res.text[:300]
    assert res.headers["content-type"].startswith("application/problem+json")


def _keys(engine: Engine) -> set[tuple[str | None, str | None]]:
    with session_scope(engine, readonly=True) as s:
        return {(r.accession_number, r.study_instance_uid) for r in s.exec(select(DiagnosticReport)).all()}


def test_uid_already_under_another_accession_is_409(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "南京市第一医院")
    assert client.put("/api/v1/institution/reports/B1", headers=key,
                      json=report_body(study_instance_uid=UID)).status_code == 201
    res = client.put("/api/v1/institution/reports/A1", headers=key, json=report_body(study_instance_uid=UID))
    _assert_conflict(res)
    assert _keys(engine) == {("B1", UID)}


def test_accession_report_taking_a_uid_of_another_report_is_409(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "江苏省人民医院")
    assert client.put("/api/v1/institution/reports/A1", headers=key, json=report_body()).status_code == 201
    assert client.put(f"/api/v1/institution/reports/by-study-uid/{UID}", headers=key,
                      json=report_body()).status_code == 201
    res = client.put("/api/v1/institution/reports/A1", headers=key, json=report_body(study_instance_uid=UID))
    _assert_conflict(res)
    assert _keys(engine) == {("A1", None), (None, UID)}


def test_uid_report_taking_an_accession_of_another_report_is_409(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "苏州大学附属第一医院")
    assert client.put("/api/v1/institution/reports/A1", headers=key,
                      json=report_body(study_instance_uid=UID2)).status_code == 201
    assert client.put(f"/api/v1/institution/reports/by-study-uid/{UID}", headers=key,
                      json=report_body()).status_code == 201
    res = client.put(f"/api/v1/institution/reports/by-study-uid/{UID}", headers=key,
                     json=report_body(accession_number="A1"))
    _assert_conflict(res)
    assert _keys(engine) == {("A1", UID2), (None, UID)}


def test_same_keys_again_stay_idempotent(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "南京鼓楼医院")
    first = client.put("/api/v1/institution/reports/A1", headers=key, json=report_body(study_instance_uid=UID))
    again = client.put(f"/api/v1/institution/reports/by-study-uid/{UID}", headers=key,
                       json=report_body(accession_number="A1"))
    assert (first.status_code, again.status_code) == (201, 200), again.text[:300]
    assert again.json()["changed"] is False
