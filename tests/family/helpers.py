"""Building blocks for family-access tests: hospitals, persons with registered phones, accounts with
real cookie sessions (the same JWT + CSRF cookies a browser holds), grants as rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.auth import sessions
from backend.auth.models import Account, Binding
from backend.config import Settings
from backend.db import session_scope
from backend.family.models import ACTIVE, INVITATION, Grant
from backend.institutions.service import create_institution
from backend.people.resident_id import generate_resident_id
from backend.people.service import register_patient
from backend.studies.models import Series, Study


def years_ago(years: int, *, days: int = 0, today: date | None = None) -> date:
    today = today or date.today()
    try:
        base = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        base = today.replace(year=today.year - years, day=28)
    return base - timedelta(days=days)


def rid_for(born: date, *, sex: str = "M", sequence: int = 7) -> str:
    return generate_resident_id(region_code="320106", birth_date=born, sex=sex, sequence=sequence)


@dataclass
class Hospital:
    id: str
    headers: dict[str, str]


def hospital(engine: Engine, name: str = "南京市第一医院") -> Hospital:
    with session_scope(engine) as s:
        issued = create_institution(session=s, name=name)
    return Hospital(id=issued.institution_id, headers={"Authorization": f"Bearer {issued.api_key}"})


def person(engine: Engine, settings: Settings, inst: Hospital, *, local_id: str, resident_id: str, name: str,
           phone: str | None = None) -> str:
    with session_scope(engine) as s:
        reg = register_patient(session=s, settings=settings, institution_id=inst.id, local_patient_id=local_id,
                               resident_id=resident_id, name=name, phone=phone)
        return reg.person.id


def account(engine: Engine, openid: str, *, bind_to: str | None = None, nickname: str | None = None) -> str:
    with session_scope(engine) as s:
        row = Account(openid=openid, nickname=nickname)
        s.add(row)
        s.flush()
        if bind_to:
            s.add(Binding(account_id=row.id, person_id=bind_to))
        return row.id


def bind(engine: Engine, account_id: str, person_id: str) -> None:
    with session_scope(engine) as s:
        s.add(Binding(account_id=account_id, person_id=person_id))


def cookie_headers(engine: Engine, settings: Settings, account_id: str) -> dict[str, str]:
    """A real browser session: the access JWT and CSRF cookies, plus the double-submit header."""
    with session_scope(engine) as s:
        tokens = sessions.start_session(s, settings=settings, account_id=account_id)
    return {"Cookie": f"yy_session={tokens.access_token}; yy_csrf={tokens.csrf_token}",
            "X-CSRF-Token": tokens.csrf_token}


def grant(engine: Engine, *, person_id: str, account_id: str, **fields: Any) -> str:
    values: dict[str, Any] = {"relationship": "child", "kind": INVITATION, "status": ACTIVE,
                              "created_by_account_id": account_id}
    values.update(fields)
    with session_scope(engine) as s:
        row = Grant(grantor_person_id=person_id, grantee_account_id=account_id, **values)
        s.add(row)
        s.flush()
        return row.id


def study(engine: Engine, inst: Hospital, *, local_id: str, uid: str, when: datetime | None = None,
          description: str = "胸部CT平扫") -> str:
    """An indexed study as ingest leaves it, announced to the timeline."""
    from backend.people.service import resolve_person
    from backend.studies import record_kind

    when = when or datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    with session_scope(engine) as s:
        row = Study(institution_id=inst.id, study_instance_uid=uid, local_patient_id=local_id,
                    study_datetime=when, study_date=when.date(), description=description, modalities="CT",
                    body_part="CHEST", series_count=1, instance_count=10)
        row.person_id = resolve_person(session=s, institution_id=inst.id, local_patient_id=local_id)
        s.add(row)
        s.flush()
        s.add(Series(study_id=row.id, series_instance_uid=f"{uid}.1", series_number=1, modality="CT",
                     body_part="CHEST", description="序列 1", instance_count=10))
        s.flush()
        record_kind.study_changed(session=s, study=row)
        return row.id


def grant_row(engine: Engine, grant_id: str) -> Grant:
    with session_scope(engine, readonly=True) as s:
        row = s.get(Grant, grant_id)
        assert row is not None
        s.expunge(row)
        return row


def account_id_of(engine: Engine, openid: str) -> str:
    with session_scope(engine, readonly=True) as s:
        found = s.exec(select(Account.id).where(Account.openid == openid)).first()
        assert found is not None
        return found


def last_sms(client: Any, phone: str) -> dict[str, Any]:
    res = client.get("/_sim/wechat/inbox")
    assert res.status_code == 200, res.text
    for entry in res.json():
        if entry["kind"] == "sms" and entry["to"] == phone:
            return dict(entry)
    raise AssertionError(f"no SMS to {phone}")


def code(res: Any) -> str:
    """The problem's slug (the last segment of its ``type`` URI, RFC 9457)."""
    return str(res.json()["type"]).rsplit("/", 1)[-1]
