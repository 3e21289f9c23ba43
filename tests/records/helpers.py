"""Scenario helpers shared by the records, labs, checkups and report tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.principals import AccountPrincipal, Anonymous, Principal
from backend.api.deps import SessionDep, get_principal
from backend.auth.models import Account, Binding
from backend.db import session_scope
from backend.institutions.deps import principal_from_api_key
from backend.institutions.service import create_institution
from backend.jobs import relay
from backend.people.models import Person
from backend.people.service import resident_id_index
from backend.studies import record_kind
from backend.studies.models import Series, Study

ZHANG_WEI = "320106196203150013"
WANG_FANG = "320102198503120020"


def hospital(engine: Engine, name: str) -> tuple[str, dict[str, str]]:
    """A hospital and the Authorization header of its API key."""
    with session_scope(engine) as s:
        issued = create_institution(session=s, name=name)
    return issued.institution_id, {"Authorization": f"Bearer {issued.api_key}"}


def register(client: httpx.Client, headers: dict[str, str], local_id: str, resident_id: str, name: str) -> str:
    r = client.put(f"/api/v1/institution/patients/{local_id}", headers=headers,
                   json={"resident_id": resident_id, "name": name})
    assert r.status_code in (200, 201), r.text
    app: Any = getattr(client, "app", None)
    with session_scope(app.state.engine, readonly=True) as s:  # the answer carries no person id (rule 7)
        index = resident_id_index(settings=app.state.settings, resident_id=resident_id)
        person_id = s.exec(select(Person.id).where(Person.resident_id_index == index)).one()
    return person_id


def read_as(app: FastAPI, engine: Engine, person_id: str) -> str:
    """Requests from now on come from an account bound to ``person_id`` (its "self")."""
    with session_scope(engine) as s:
        account = Account(openid=f"o-{person_id[:8]}")
        s.add(account)
        s.flush()
        s.add(Binding(account_id=account.id, person_id=person_id))
        account_id = account.id

    def principal(request: Request, session: SessionDep) -> Principal:
        # Hospital calls (bearer key) keep their own principal; everything else is this account.
        if request.headers.get("authorization"):
            return principal_from_api_key(request, session) or Anonymous()
        return AccountPrincipal(account_id=account_id)

    app.dependency_overrides[get_principal] = principal
    return account_id


def make_study(
    engine: Engine,
    *,
    institution_id: str,
    uid: str,
    local_patient_id: str,
    when: datetime,
    modality: str = "CT",
    body_part: str | None = "CHEST",
    accession: str | None = None,
    description: str | None = None,
    series: int = 1,
) -> str:
    """An indexed study as ingest would leave it (rows only), announced to the timeline."""
    with session_scope(engine) as s:
        study = Study(institution_id=institution_id, study_instance_uid=uid, local_patient_id=local_patient_id,
                      study_datetime=when.astimezone(UTC), study_date=when.date(), accession_number=accession,
                      description=description, modalities=modality, body_part=body_part, series_count=series,
                      instance_count=series * 10)
        from backend.people.service import resolve_person

        study.person_id = resolve_person(session=s, institution_id=institution_id, local_patient_id=local_patient_id)
        s.add(study)
        s.flush()
        for n in range(series):
            s.add(Series(study_id=study.id, series_instance_uid=f"{uid}.{n + 1}", series_number=n + 1,
                         modality=modality, body_part=body_part, description=f"序列 {n + 1}", instance_count=10))
        s.flush()
        record_kind.study_changed(session=s, study=study)
        return study.id


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "final",
        "exam_items": ["胸部CT平扫"],
        "findings": "双肺纹理清晰，未见明确实质性病变。纵隔居中，心影不大。",
        "impression": "胸部CT平扫未见明显异常。",
        "reporting_physician": "李明",
        "reviewing_physician": "王强",
        "reported_at": "2024-03-02T10:15:00+08:00",
        "mutual_recognition_mark": "苏HR",
    }
    body.update(overrides)
    return body


@contextmanager
def sent_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL the engine sends while the block runs, lower-cased and on one line each, leaving out what
    this process's job threads send meanwhile: their lanes poll the outbox every second (jobs/relay.py),
    so a count of a request's or a job's own queries would otherwise depend on when the poll fell."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not threading.current_thread().name.startswith(relay.THREAD_NAME_PREFIXES):
            statements.append(" ".join(statement.lower().split()))

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
