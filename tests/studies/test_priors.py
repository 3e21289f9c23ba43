"""Priors: the person's earlier studies of the same body part and modality, from any hospital."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from tests.records.helpers import ZHANG_WEI, hospital, make_study, read_as, register

CST = timezone(timedelta(hours=8))


def test_priors_span_hospitals_and_match_body_part_and_modality(client: httpx.Client, app: FastAPI,
                                                                engine: Engine) -> None:
    first, key1 = hospital(engine, "南京市第一医院")
    second, key2 = hospital(engine, "江苏省人民医院")
    person = register(client, key1, "P1", ZHANG_WEI, "张伟")
    register(client, key2, "Q1", ZHANG_WEI, "张伟")

    def study(inst: str, local: str, uid: str, year: int, modality: str, body: str | None) -> str:
        return make_study(engine, institution_id=inst, uid=uid, local_patient_id=local, modality=modality,
                          body_part=body, when=datetime(year, 6, 1, 9, 0, tzinfo=CST))

    old_ct = study(first, "P1", "1.1", 2014, "CT", "CHEST")
    other_hospital_ct = study(second, "Q1", "2.1", 2018, "CT", "CHEST")
    study(second, "Q1", "2.2", 2019, "CT", "HEAD")  # other body part
    study(first, "P1", "1.2", 2020, "MR", "CHEST")  # other modality
    study(first, "P1", "1.4", 2024, "CT", "CHEST")  # later: not a prior
    current = study(first, "P1", "1.3", 2022, "CT", "CHEST")
    old_cr = study(first, "P1", "1.5", 2015, "CR", "CHEST")
    new_dx = study(second, "Q1", "2.5", 2023, "DX", "CHEST")

    read_as(app, engine, person)
    priors = client.get(f"/api/v1/people/{person}/studies/{current}/priors").json()
    assert [p["id"] for p in priors["items"]] == [other_hospital_ct, old_ct]
    assert priors["items"][0]["institution"]["name"] == "江苏省人民医院"
    # Radiography sent as DX by one hospital and CR by another is compared as one modality.
    dx_priors = client.get(f"/api/v1/people/{person}/studies/{new_dx}/priors").json()
    assert [p["id"] for p in dx_priors["items"]] == [old_cr]
    assert client.get(f"/api/v1/people/{person}/studies/{old_ct}/priors").json()["items"] == []
