"""A relative is told about a new record only when their grant's scope covers that kind of record."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.auth.models import Account, Binding
from backend.db import session_scope
from backend.family.models import Grant
from backend.notify.models import Notification
from backend.notify.service import notify_new_record
from backend.people.models import Person


def test_lab_only_relative_hears_of_labs_not_of_imaging(engine: Engine) -> None:
    with session_scope(engine) as s:
        person, me, relative = Person(name="张伟"), Account(openid="o-self"), Account(openid="o-daughter")
        s.add_all([person, me, relative])
        s.flush()
        s.add(Binding(account_id=me.id, person_id=person.id))
        s.add(Grant(grantor_person_id=person.id, grantee_account_id=relative.id, relationship="child",
                    kind="invitation", scope="kinds", kinds="lab_result", status="active",
                    created_by_account_id=me.id))
        ids = (person.id, me.id, relative.id)
    person_id, me_id, relative_id = ids
    with session_scope(engine) as s:
        notify_new_record(session=s, person_id=person_id, record_id="lab-1", record_kind="lab_result")
        notify_new_record(session=s, person_id=person_id, record_id="ct-1", record_kind="imaging_study")
    with session_scope(engine) as s:
        rows = {(n.account_id, n.event_key) for n in s.exec(select(Notification)).all()}
    assert rows == {
        (me_id, "record:lab_result:lab-1"),
        (me_id, "record:imaging_study:ct-1"),
        (relative_id, "record:lab_result:lab-1"),
    }
