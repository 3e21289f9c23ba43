"""A record the person hid from one relative (issue 19 item 4) is never announced to that relative:
even a content-free notice ("you have a new result", "a follow-up is due") would say that it exists."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.service import accounts_for_person
from backend.config import Settings
from backend.db import session_scope
from backend.notify.models import Notification
from backend.notify.service import notify_new_record
from tests.family import helpers as h


def test_a_hidden_study_is_announced_to_the_person_and_other_relatives_only(settings: Settings,
                                                                            engine: Engine) -> None:
    inst = h.hospital(engine)
    born = h.years_ago(70)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=h.rid_for(born), name="张建国")
    owner = h.account(engine, "o-father", bind_to=father)
    daughter = h.account(engine, "o-daughter")
    son = h.account(engine, "o-son")
    h.grant(engine, person_id=father, account_id=daughter, hidden_refs="study-hidden")
    h.grant(engine, person_id=father, account_id=son)
    with session_scope(engine) as session:
        told = {a for a, _ in accounts_for_person(session=session, person_id=father, kind="imaging_study",
                                                  ref_id="study-hidden")}
        assert told == {owner, son}
        notify_new_record(session=session, person_id=father, record_id="study-hidden", record_kind="imaging_study")
        notify_new_record(session=session, person_id=father, record_id="study-open", record_kind="imaging_study")
    with session_scope(engine, readonly=True) as session:
        rows = session.exec(select(Notification)).all()
    by_record = {(n.event_key.rsplit(":", 1)[1], n.account_id) for n in rows}
    assert by_record == {("study-hidden", owner), ("study-hidden", son),
                         ("study-open", owner), ("study-open", son), ("study-open", daughter)}
