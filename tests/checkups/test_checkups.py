"""A yearly checkup with sections, conclusions and an attached lab panel."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from tests.records.helpers import WANG_FANG, ZHANG_WEI, hospital, read_as, register


def checkup(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "local_patient_id": "T1",
        "package_name": "中老年男性体检套餐",
        "exam_date": "2024-05-10T08:00:00+08:00",
        "reported_at": "2024-05-15T16:00:00+08:00",
        "chief_physician": "陈静",
        "sections": [
            {"name": "一般检查", "doctor": "刘洋", "items": [
                {"name": "血压", "result": "148/92", "unit": "mmHg", "reference": "<140/90", "flag": "H"},
                {"name": "体重指数", "result": "26.1", "unit": "kg/m²", "reference": "18.5-23.9", "flag": "H"}],
             "summary": "血压偏高，超重"},
            {"name": "心电图", "items": [{"name": "心电图", "result": "窦性心律，正常心电图"}]},
        ],
        "conclusions": ["血压偏高", "超重", "空腹血糖升高"],
        "recommendations": ["低盐饮食，监测血压", "控制体重，规律运动"],
        "lab_panels": [{
            "report_id": "T1-LAB", "local_patient_id": "T1", "panel_name": "体检生化", "specimen": "血清",
            "reported_at": "2024-05-10T12:00:00+08:00",
            "items": [{"name": "空腹血糖", "value": 6.9, "unit": "mmol/L", "reference_range": "3.9-6.1"}],
        }],
    }
    body.update(overrides)
    return body


def test_checkup_on_timeline_with_its_lab_panel(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    _, key = hospital(engine, "江苏省人民医院健康管理中心")
    r = client.put("/api/v1/institution/checkups/TJ-2024-1", headers=key, json=checkup())
    assert r.status_code == 201, r.text
    checkup_id, [lab_id] = r.json()["id"], r.json()["lab_ids"]
    again = client.put("/api/v1/institution/checkups/TJ-2024-1", headers=key, json=checkup())
    assert (again.status_code, again.json()["changed"]) == (200, False)

    person = register(client, key, "T1", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    timeline = client.get(f"/api/v1/people/{person}/timeline").json()
    kinds = {i["kind"]: i for i in timeline["items"]}
    assert set(kinds) == {"checkup", "lab_result"}
    assert kinds["checkup"]["summary"] == "血压偏高；超重 等3项结论"
    assert kinds["checkup"]["detail_url"] == f"/api/v1/people/{person}/checkups/{checkup_id}"
    assert timeline["counts"]["by_kind"] == {"checkup": 1, "lab_result": 1}

    detail = client.get(f"/api/v1/people/{person}/checkups/{checkup_id}").json()
    # The count is the conclusions' (issue 19 item 2: "3 项异常" above three conclusions, not 2 flagged items).
    assert detail["abnormal_count"] == 3 == len(detail["conclusions"]) == kinds["checkup"]["data"]["abnormal_count"]
    assert detail["recommendations"][0] == "低盐饮食，监测血压"
    assert detail["sections"][0]["items"][0]["result"] == "148/92"
    assert [p["id"] for p in detail["lab_panels"]] == [lab_id]
    assert detail["lab_panels"][0]["items"][0]["flag"] == "H"


def test_bad_checkups_and_other_peoples_checkups(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    _, key = hospital(engine, "江苏省人民医院健康管理中心")
    url = "/api/v1/institution/checkups/TJ-X"
    assert client.put(url, headers=key, json=checkup(exam_date="not a date")).status_code == 422
    assert client.put(url, headers=key, json=checkup(sections=[{"items": []}])).status_code == 422
    mismatch = checkup(lab_panels=[{**checkup()["lab_panels"][0], "local_patient_id": "OTHER"}])
    assert client.put(url, headers=key, json=mismatch).status_code == 400
    me = register(client, key, "T1", ZHANG_WEI, "张伟")
    register(client, key, "T2", WANG_FANG, "王芳")
    hers = client.put(url, headers=key, json=checkup(local_patient_id="T2", lab_panels=[])).json()["id"]
    read_as(app, engine, me)
    assert client.get(f"/api/v1/people/{me}/checkups/{hers}").status_code == 404


def test_the_abnormal_count_follows_the_conclusions() -> None:
    from backend.checkups.schemas import CheckupIn
    from backend.checkups.service import abnormal_count

    def count(**overrides: Any) -> int:
        return abnormal_count(CheckupIn.model_validate(checkup(**overrides)))

    assert count() == 3
    assert count(conclusions=["未见明显异常。"]) == 0
    assert count(conclusions=["1. 各项检查结果均在正常范围", "2. 脂肪肝（轻度）"]) == 1
    assert count(conclusions=[]) == 2  # none written: the flagged items of the sections


def test_vitals_over_the_years(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    """Issue 19 item 5: blood pressure, weight and BMI from the checkups' general section, oldest first;
    BMI from height and weight when the hospital gave none."""
    _, key = hospital(engine, "江苏省人民医院健康管理中心")
    general = {"name": "一般检查", "items": [{"name": "身高", "result": "172", "unit": "cm"},
                                         {"name": "体重", "result": "80", "unit": "kg"},
                                         {"name": "血压", "result": "132/84", "unit": "mmHg"}]}
    older = checkup(exam_date="2023-05-10T08:00:00+08:00", sections=[general], lab_panels=[])
    assert client.put("/api/v1/institution/checkups/TJ-2023", headers=key, json=older).status_code == 201
    assert client.put("/api/v1/institution/checkups/TJ-2024", headers=key, json=checkup()).status_code == 201
    person = register(client, key, "T1", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    series = {s["key"]: s for s in client.get(f"/api/v1/people/{person}/checkups/vitals").json()["series"]}
    assert [p["value"] for p in series["systolic"]["points"]] == [132, 148]
    assert [p["value"] for p in series["diastolic"]["points"]] == [84, 92]
    assert [p["value"] for p in series["bmi"]["points"]] == [27.0, 26.1]  # 80 / 1.72² then as given
    assert series["bmi"]["ref_high"] == 23.9 and series["systolic"]["unit"] == "mmHg"
    assert [p["value"] for p in series["weight"]["points"]] == [80]
