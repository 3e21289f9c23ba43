"""A fourth kind of record, defined only in this test, plugs into the timeline through the registry
alone — nothing in backend/records/ knows about it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.db import session_scope
from backend.records import registry
from backend.records import service as records
from tests.records.helpers import ZHANG_WEI, hospital, read_as, register

CST = timezone(timedelta(hours=8))
# The kind's own "table": vaccination records kept in memory for the test.
VACCINATIONS: dict[str, dict[str, object]] = {}


def summarize(*, session: Session, ref_id: str) -> registry.EntrySummary | None:
    del session
    row = VACCINATIONS.get(ref_id)
    if row is None:
        return None
    return registry.EntrySummary(
        occurred_at=row["at"], title=f"疫苗接种：{row['vaccine']}", summary=f"第{row['dose']}剂",  # type: ignore[arg-type]
        status="done", institution_id=row["institution_id"], local_patient_id=row["local_id"],  # type: ignore[arg-type]
        data={"dose": row["dose"]},
    )


@pytest.fixture
def vaccination_kind() -> Iterator[registry.RecordKind]:
    kind = registry.register(registry.RecordKind(
        name="vaccination", label_zh="疫苗接种", label_en="Vaccination", summarize=summarize,
        detail_path=lambda person_id, ref_id: f"/api/v1/people/{person_id}/vaccinations/{ref_id}",
    ))
    yield kind
    registry.unregister("vaccination")
    VACCINATIONS.clear()


def test_a_kind_defined_in_a_test_shows_on_the_timeline(
    client: httpx.Client, app: FastAPI, engine: Engine, vaccination_kind: registry.RecordKind
) -> None:
    inst, key = hospital(engine, "南京市疾控中心")
    VACCINATIONS["v1"] = {"at": datetime(2021, 4, 1, 9, 0, tzinfo=CST), "vaccine": "新冠病毒灭活疫苗", "dose": 2,
                          "institution_id": inst, "local_id": "C1"}
    with session_scope(engine) as s:
        records.sync(session=s, kind=vaccination_kind.name, ref_id="v1")  # before registration: unmatched
    person = register(client, key, "C1", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    body = client.get(f"/api/v1/people/{person}/timeline", params={"kind": "vaccination"}).json()
    [item] = body["items"]
    assert (item["kind"], item["kind_label"]) == ("vaccination", "疫苗接种")
    assert item["title"] == "疫苗接种：新冠病毒灭活疫苗"
    assert item["detail_url"] == f"/api/v1/people/{person}/vaccinations/v1"
    assert body["counts"]["by_kind"] == {"vaccination": 1}
    assert "vaccination" in {k["name"] for k in client.get("/api/v1/record-kinds").json()}
    # The record disappears from the timeline when the kind says it no longer exists.
    del VACCINATIONS["v1"]
    with session_scope(engine) as s:
        records.sync(session=s, kind="vaccination", ref_id="v1")
    assert client.get(f"/api/v1/people/{person}/timeline").json()["items"] == []
