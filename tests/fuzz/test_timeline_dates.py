"""Timeline date filters at the calendar's edges: ``from=0001-01-01`` (its CST midnight is before year 1
in UTC) and ``to=9999-12-31`` (there is no day after it) are just open-ended ranges, never a 500."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from tests.records.helpers import ZHANG_WEI, hospital, make_study, read_as, register

CST = timezone(timedelta(hours=8))


EDGES = [{"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "0001-01-01", "to": "9999-12-31"},
         {"from": "0001-01-02", "to": "9999-12-30"}]


@pytest.mark.parametrize("query", EDGES)
def test_open_ended_ranges_list_everything(client: httpx.Client, app: FastAPI, engine: Engine,
                                           query: dict[str, str]) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    make_study(engine, institution_id=inst, uid="1.2.826.0.1.3680043.8.498.8001", local_patient_id="P1",
               when=datetime(2024, 3, 2, 9, 0, tzinfo=CST))
    read_as(app, engine, person)
    res = client.get(f"/api/v1/people/{person}/timeline", params=query)
    assert res.status_code == 200, res.text[:300]
    assert len(res.json()["items"]) == 1
