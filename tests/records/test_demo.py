"""The demo person's records: ten-plus years from four hospitals, seeded idempotently."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from backend.config import Settings
from backend.db import session_scope
from backend.demo_records import seed_records
from backend.people.models import Person
from backend.records.models import RecordRevision, TimelineEntry
from backend.studies.models import Instance
from tests.records.helpers import read_as


def _counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine, readonly=True) as s:
        return (s.exec(select(func.count()).select_from(TimelineEntry)).one(),
                s.exec(select(func.count()).select_from(RecordRevision)).one())


def test_demo_records_are_complete_and_idempotent(client: httpx.Client, app: FastAPI, engine: Engine,
                                                  settings: Settings) -> None:
    seed_records(settings=settings, engine=engine, ct_slices=12)
    first = _counts(engine)
    seed_records(settings=settings, engine=engine, ct_slices=12)
    assert _counts(engine) == first
    with session_scope(engine, readonly=True) as s:
        zhang = s.exec(select(Person).where(Person.name == "张伟")).one()
    read_as(app, engine, zhang.id)
    body = client.get(f"/api/v1/people/{zhang.id}/timeline", params={"limit": 100}).json()
    counts = body["counts"]
    assert counts["by_kind"] == {"imaging_study": 5, "checkup": 12, "lab_result": 17}
    assert min(int(y) for y in counts["by_year"]) <= 2014 and max(int(y) for y in counts["by_year"]) >= 2025
    assert len({i["institution"]["name"] for i in body["items"]}) == 4
    studies = [i for i in body["items"] if i["kind"] == "imaging_study"]
    assert all(i["status"] == "final" for i in studies)
    assert {m for i in studies for m in i["data"]["modalities"]} >= {"CT", "CR", "MR", "US"}
    # One truth (issue 19 item 2): each study page is titled as on the timeline, its images fit the exam
    # (no QC phantom, no heart under an abdominal ultrasound), and each series card counts the viewer's images.
    assert {i["title"] for i in studies} == {"胸部CT增强", "胸部CT平扫", "胸部正位片", "头颅MR平扫", "超声心动图"}
    for item in studies:
        detail = client.get(item["detail_url"]).json()
        assert detail["title"] == item["title"]
        assert "QC" not in (detail["description"] or "") and "phantom" not in (detail["description"] or "").lower()
        with session_scope(engine, readonly=True) as s:
            for series in detail["series"]:
                frames = s.exec(select(func.coalesce(func.sum(func.coalesce(Instance.frames, 1)), 0)).where(
                    Instance.series_id == series["id"], Instance.kind == "image")).one()
                assert series["image_count"] == frames
    brain = next(i for i in studies if i["title"] == "头颅MR平扫")
    assert brain["data"]["body_part"] == "BRAIN" and brain["data"]["instance_count"] == 15
    # Lab cards speak the trends' units (a mg/dL glucose reads in mmol/L); checkup counts match conclusions.
    labs = [i for i in body["items"] if i["kind"] == "lab_result" and "血糖" in i["summary"]]
    assert labs and all("mmol/L" in i["summary"] and "mg/dL" not in i["summary"] for i in labs)
    assert all(i["data"]["summary_en"] for i in labs)
    for item in (i for i in body["items"] if i["kind"] == "checkup"):
        checkup = client.get(item["detail_url"]).json()
        assert item["data"]["abnormal_count"] == len(checkup["conclusions"]), checkup["conclusions"]
    ct_2024 = next(i for i in studies if i["title"] == "胸部CT增强")
    priors = client.get(f"{ct_2024['detail_url']}/priors").json()["items"]
    assert [p["title"] for p in priors] == ["胸部CT平扫"]
    glucose = client.get(f"/api/v1/people/{zhang.id}/labs/trends", params={"code": "glucose"}).json()
    assert len(glucose["points"]) == 15 and glucose["unit"] == "mmol/L"
    assert max(p["value"] for p in glucose["points"]) > 7.5
