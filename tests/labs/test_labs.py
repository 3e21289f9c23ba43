"""Lab panels from two hospitals: stored whole (text values kept), joined to the person by the MPI,
compared over time in one unit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from backend.labs.values import derive_flag, parse_range, parse_value
from tests.records.helpers import WANG_FANG, ZHANG_WEI, hospital, read_as, register


def panel(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "local_patient_id": "P1",
        "panel_name": "生化全套",
        "specimen": "血清",
        "collected_at": "2024-03-02T07:40:00+08:00",
        "reported_at": "2024-03-02T11:00:00+08:00",
        "reporting_physician": "赵敏",
        "mutual_recognition_mark": "苏HR",
        "items": [
            {"code": "GLU", "name": "空腹血糖", "value": 7.8, "unit": "mmol/L", "reference_range": "3.9-6.1"},
            {"code": "LDL-C", "loinc": "2089-1", "name": "低密度脂蛋白胆固醇", "value": "4.10", "unit": "mmol/L",
             "reference_range": "<3.4", "flag": "H"},
            {"code": "HBsAg", "name": "乙肝表面抗原", "value": "阴性", "reference_range": "阴性"},
            {"code": "K", "name": "钾", "value": "待复查", "unit": "mmol/L", "reference_range": "3.5-5.3"},
        ],
    }
    body.update(overrides)
    return body


def test_values_and_ranges_are_parsed_without_losing_text() -> None:
    assert parse_value("7.8↑") == ("7.8↑", 7.8, "H")
    assert parse_value("阴性") == ("阴性", None, None)
    assert parse_value(">1000") == (">1000", None, None)
    assert parse_value(5) == ("5", 5.0, None)
    assert parse_range("3.9-6.1") == (3.9, 6.1)
    assert parse_range("3.9～6.1") == (3.9, 6.1)
    assert parse_range("<3.4") == (None, 3.4)
    assert parse_range("阴性") == (None, None)
    assert derive_flag(7.8, 3.9, 6.1) == "H" and derive_flag(3.0, 3.9, 6.1) == "L" and derive_flag(5, 3.9, 6.1) == "N"


def test_panel_is_stored_whole_and_unmatched_until_registration(client: httpx.Client, app: FastAPI,
                                                                 engine: Engine) -> None:
    _, key = hospital(engine, "南京市第一医院")
    r = client.put("/api/v1/institution/lab-reports/L-001", headers=key, json=panel())
    assert r.status_code == 201, r.text
    assert r.json()["person_matched"] is False
    lab_id = r.json()["id"]
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    [item] = client.get(f"/api/v1/people/{person}/timeline?kind=lab_result").json()["items"]
    assert item["ref_id"] == lab_id and item["title"] == "生化全套"
    # With units, in the trends' canonical units (issue 19 item 2), and in English too (item 7).
    assert item["summary"].startswith("2项异常：空腹血糖 7.8 mmol/L↑、低密度脂蛋白胆固醇 4.1 mmol/L↑")
    assert item["data"]["summary_en"].startswith("2 out of range: 空腹血糖 7.8 mmol/L↑; 低密度脂蛋白胆固醇 4.1 mmol/L↑")
    detail = client.get(f"/api/v1/people/{person}/labs/{lab_id}").json()
    by_code = {i["code"]: i for i in detail["items"]}
    assert by_code["HBsAg"]["value"] == "阴性" and by_code["HBsAg"]["value_number"] is None
    assert by_code["K"]["value"] == "待复查" and by_code["K"]["flag"] is None  # kept as text, not dropped
    assert by_code["GLU"]["flag"] == "H" and by_code["GLU"]["analyte"] == "glucose"
    assert detail["mutual_recognition_mark"] == "苏HR" and detail["abnormal_count"] == 2


def test_duplicate_report_id_is_an_idempotent_update_with_history(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "南京市第一医院")
    url = "/api/v1/institution/lab-reports/L-9"
    assert client.put(url, headers=key, json=panel()).status_code == 201
    same = client.put(url, headers=key, json=panel())
    assert (same.status_code, same.json()["changed"], same.json()["version"]) == (200, False, 1)
    amended = client.put(url, headers=key, json=panel(status="amended"))
    assert (amended.json()["changed"], amended.json()["version"]) == (True, 2)


@pytest.mark.parametrize("bad", [
    {"items": []},
    {"items": [{"name": "血糖"}]},
    {"items": [{"name": "血糖", "value": "5", "flag": "VERY_HIGH"}]},
    {"items": [{"name": "血糖", "value": "5", "loinc": "not-a-loinc"}]},
    {"reported_at": "yesterday"},
    {"local_patient_id": ""},
])
def test_malformed_panels_are_422(client: httpx.Client, engine: Engine, bad: dict[str, Any]) -> None:
    _, key = hospital(engine, "南京市第一医院")
    r = client.put("/api/v1/institution/lab-reports/L-X", headers=key, json=panel(**bad))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_trend_matches_items_across_hospitals_and_units(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    _, first = hospital(engine, "南京市第一医院")
    _, second = hospital(engine, "江苏省人民医院")
    person = register(client, first, "P1", ZHANG_WEI, "张伟")
    register(client, second, "Z77", ZHANG_WEI, "张伟")
    client.put("/api/v1/institution/lab-reports/A", headers=first, json=panel())
    # The second hospital reports glucose in mg/dL under its own code, with a LOINC; creatinine in mg/dL.
    client.put("/api/v1/institution/lab-reports/B", headers=second, json=panel(
        local_patient_id="Z77", collected_at="2025-03-01T08:00:00+08:00", reported_at="2025-03-01T10:00:00+08:00",
        items=[{"code": "0101", "loinc": "1558-6", "name": "葡萄糖", "value": 126, "unit": "mg/dL",
                "reference_range": "70-110"},
               {"code": "0202", "name": "肌酐(CREA)", "value": "1.2", "unit": "mg/dL", "reference_range": "0.7-1.3"}]))
    read_as(app, engine, person)
    trend = client.get(f"/api/v1/people/{person}/labs/trends?code=glucose").json()
    assert (trend["analyte"], trend["unit"], trend["name"]) == ("glucose", "mmol/L", "空腹血糖")
    assert [p["value"] for p in trend["points"]] == [7.8, pytest.approx(6.994, abs=0.001)]
    assert trend["points"][1]["original_value"] == 126 and trend["points"][1]["original_unit"] == "mg/dL"
    assert trend["points"][1]["ref_high"] == pytest.approx(6.106, abs=0.001)
    assert {p["institution"]["name"] for p in trend["points"]} == {"南京市第一医院", "江苏省人民医院"}
    by_loinc = client.get(f"/api/v1/people/{person}/labs/trends?code=14771-0").json()
    assert len(by_loinc["points"]) == 2
    creatinine = client.get(f"/api/v1/people/{person}/labs/trends?code=肌酐").json()
    assert creatinine["unit"] == "µmol/L" and creatinine["points"][0]["value"] == pytest.approx(106.1, abs=0.01)
    unmapped = client.get(f"/api/v1/people/{person}/labs/trends?code=HBsAg").json()
    assert [p["value_text"] for p in unmapped["points"]] == ["阴性"]
    index = client.get(f"/api/v1/people/{person}/labs/trends").json()["items"]
    assert {i["analyte"] for i in index} == {"glucose", "ldl_c", "creatinine"}


def test_someone_elses_lab_is_404(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    _, key = hospital(engine, "南京市第一医院")
    me = register(client, key, "P1", ZHANG_WEI, "张伟")
    register(client, key, "P2", WANG_FANG, "王芳")
    hers = client.put("/api/v1/institution/lab-reports/H", headers=key, json=panel(local_patient_id="P2")).json()["id"]
    read_as(app, engine, me)
    assert client.get(f"/api/v1/people/{me}/labs/{hers}").status_code == 404
    assert client.get(f"/api/v1/people/{me}/labs/trends?code=glucose").json()["points"] == []


def test_a_new_lab_for_a_bound_person_queues_one_wechat_notice(client: httpx.Client, app: FastAPI,
                                                               engine: Engine) -> None:
    from sqlmodel import select

    from backend.db import session_scope
    from backend.notify.models import Notification

    _, key = hospital(engine, "南京市第一医院")
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    read_as(app, engine, person)  # an account bound to the person
    lab_id = client.put("/api/v1/institution/lab-reports/N1", headers=key, json=panel()).json()["id"]
    client.put("/api/v1/institution/lab-reports/N1", headers=key, json=panel(status="amended"))
    with session_scope(engine) as s:
        keys = s.exec(select(Notification.event_key).where(Notification.person_id == person)).all()
    assert keys == [f"record:lab_result:{lab_id}"]
