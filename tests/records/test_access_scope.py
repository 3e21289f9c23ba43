"""The timeline honours the access decision's limits (a family grant's kinds, a share's studies), and
the core stays independent of the kinds it shows."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from backend.access.principals import AccountPrincipal
from backend.access.service import PersonAccess
from backend.db import session_scope
from backend.errors import NotFound
from backend.records import service as records
from tests.labs.test_labs import panel
from tests.records.helpers import ZHANG_WEI, hospital, make_study, read_as, register

CST = timezone(timedelta(hours=8))
KEY = b"k" * 32


def _setup(client: httpx.Client, engine: Engine) -> tuple[str, list[str], str]:
    inst, key = hospital(engine, "南京市第一医院")
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    studies = [make_study(engine, institution_id=inst, uid=f"1.2.5.{n}", local_patient_id="P1",
                          when=datetime(2020 + n, 1, 1, tzinfo=CST)) for n in range(2)]
    lab = client.put("/api/v1/institution/lab-reports/L1", headers=key, json=panel()).json()["id"]
    return person, studies, lab


def _kinds(engine: Engine, access: PersonAccess) -> list[str]:
    with session_scope(engine, readonly=True) as s:
        page = records.timeline(session=s, access=access, cursor_key=KEY, filters=records.TimelineFilters())
        return [f"{e.kind}:{e.ref_id}" for e in page.entries]


def test_grant_kinds_and_share_studies_limit_everything(client: httpx.Client, engine: Engine) -> None:
    person, studies, lab = _setup(client, engine)
    me = AccountPrincipal(account_id="a")
    labs_only = PersonAccess(person_id=person, principal=me, relation="child", kinds=frozenset({"lab_result"}))
    assert _kinds(engine, labs_only) == [f"lab_result:{lab}"]
    one_study = PersonAccess(person_id=person, principal=me, relation="share", study_ids=frozenset({studies[0]}))
    assert _kinds(engine, one_study) == [f"imaging_study:{studies[0]}"]
    with session_scope(engine, readonly=True) as s:
        assert records.counts(session=s, access=labs_only).by_kind == {"lab_result": 1}
        for access, kind, ref in [(labs_only, "imaging_study", studies[0]), (one_study, "imaging_study", studies[1]),
                                  (one_study, "lab_result", lab)]:
            with pytest.raises(NotFound):
                records.require_entry(session=s, access=access, kind=kind, ref_id=ref)


def test_naive_hospital_timestamps_are_china_time(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    _, key = hospital(engine, "南京市第一医院")
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    body = panel(collected_at="2024-01-01T07:30:00", reported_at="2024-01-01T10:00:00")
    assert client.put("/api/v1/institution/lab-reports/N", headers=key, json=body).status_code == 201
    read_as(app, engine, person)
    [item] = client.get(f"/api/v1/people/{person}/timeline").json()["items"]
    assert datetime.fromisoformat(item["occurred_at"]) == datetime(2024, 1, 1, 7, 30, tzinfo=CST)
    # 2024-01-01 07:30 in China is still 2023 in UTC: the year header follows China time.
    assert client.get(f"/api/v1/people/{person}/timeline").json()["counts"]["by_year"] == {"2024": 1}


def test_the_core_imports_no_kind() -> None:
    core = Path(__file__).resolve().parents[2] / "backend" / "records"
    kinds = ("backend.studies", "backend.reports", "backend.labs", "backend.checkups")
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith(kinds) for n in names), f"{path.name} imports a kind: {names}"
