"""Scenario helpers of the preview tests: a hospital uploads over STOW-RS, the patient is registered,
and requests come from an account bound to that patient."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.access.principals import AccountPrincipal, Principal
from backend.auth.models import Account, Binding
from backend.db import session_scope
from backend.studies.models import Instance, Series, Study
from tests.ingest.test_stow import content_type, multipart_body
from tests.records.helpers import hospital, register

ZHANG_WEI = "320106196203150013"


@contextmanager
def started(app: FastAPI, *, pool: int | None = 1, dispatcher: bool = False) -> Iterator[httpx.Client]:
    """A TestClient whose previews runtime has `pool` worker processes (None: render inline)."""
    app.state.preview_pool_size = pool
    app.state.preview_dispatcher = dispatcher
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def read_as(app: FastAPI, engine: Engine, person_id: str) -> str:
    """Requests without a bearer key come from an account bound to `person_id`. A principal resolver
    (not a dependency override): the preview routes resolve principals in their read-only session."""
    with session_scope(engine) as s:
        account = Account(openid=f"o-{person_id[:8]}-{len(app.state.principal_resolvers)}")
        s.add(account)
        s.flush()
        if len(person_id) == 32 and person_id != "0" * 32:
            s.add(Binding(account_id=account.id, person_id=person_id))
        account_id = account.id

    def resolver(request: Any, session: Any) -> Principal | None:
        if request.headers.get("authorization"):
            return None
        return AccountPrincipal(account_id=account_id)

    resolvers = [r for r in app.state.principal_resolvers if not getattr(r, "test_reader", False)]
    resolver.test_reader = True  # type: ignore[attr-defined]
    app.state.principal_resolvers = [resolver, *resolvers]
    return account_id


def upload(client: httpx.Client, headers: dict[str, str], paths: Iterable[Path]) -> dict[str, Any]:
    body = multipart_body(p.read_bytes() for p in paths)
    r = client.post("/dicomweb/studies", content=body, headers={**headers, "Content-Type": content_type()})
    assert r.status_code in (200, 202, 409), r.text
    result: dict[str, Any] = r.json()
    return result


def patient_with_study(client: httpx.Client, app: FastAPI, engine: Engine, paths: list[Path], *,
                       local_id: str = "NJ0001234", resident_id: str = ZHANG_WEI, name: str = "张伟",
                       hospital_name: str = "南京市第一医院") -> tuple[str, dict[str, str]]:
    """Upload, register the patient (matches the study), read as that patient. Returns person id, key headers."""
    _, headers = hospital(engine, hospital_name)
    upload(client, headers, paths)
    person = register(client, headers, local_id, resident_id, name)
    read_as(app, engine, person)
    return person, headers


def study_of(engine: Engine, person_id: str) -> Study:
    with session_scope(engine, readonly=True) as s:
        study = s.exec(select(Study).where(col(Study.person_id) == person_id)).first()
        assert study is not None
        return study


def series_of(engine: Engine, study_id: str) -> list[Series]:
    with session_scope(engine, readonly=True) as s:
        return list(s.exec(select(Series).where(col(Series.study_id) == study_id)
                           .order_by(col(Series.series_number))).all())


def instances_of(engine: Engine, series_id: str) -> list[Instance]:
    with session_scope(engine, readonly=True) as s:
        return list(s.exec(select(Instance).where(col(Instance.series_id) == series_id)
                           .order_by(col(Instance.instance_number))).all())
