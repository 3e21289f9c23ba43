"""Follow-up reminders from the demo's real report phrasing: due dates, the due notice (once), and a
reminder done when a comparable study arrives (issue 19 item 5)."""

from __future__ import annotations

from datetime import date, datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import delete as sa_delete
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.clock import CST
from backend.config import Settings
from backend.db import session_scope
from backend.demo_records import NJ1, seed_records
from backend.institutions.models import Institution
from backend.notify.models import Notification
from backend.people.models import Person
from backend.reminders.models import FollowupReminder
from backend.reminders.service import rebuild, send_due
from tests.records.helpers import make_study, read_as, sent_statements


def test_reminders_from_reports_due_notice_and_done_by_a_new_study(client: httpx.Client, app: FastAPI,
                                                                   engine: Engine, settings: Settings) -> None:
    seed_records(settings=settings, engine=engine, ct_slices=6)
    with session_scope(engine, readonly=True) as s:
        zhang = s.exec(select(Person).where(Person.name == "张伟")).one().id
        nj1 = s.exec(select(Institution).where(Institution.name == NJ1)).one().id
    read_as(app, engine, zhang)
    url = f"/api/v1/people/{zhang}/reminders"
    items = {i["title"]: i for i in client.get(url).json()["items"]}
    ct = items["胸部CT增强"]
    assert (ct["phrase"], ct["study_date"], ct["due"]) == ("12个月后复查", "2024-05-20", "2025-05-15")
    assert ct["status"] == "due"
    assert items["胸部CT平扫"]["status"] == "done" and items["胸部CT平扫"]["done_title"] == "胸部CT增强"
    assert items["头颅MR平扫"]["phrase"] == "定期复查" and items["头颅MR平扫"]["stated"] is False
    assert "胸部正位片" not in items  # no advice, no reminder

    assert send_due(engine=engine, today=date(2025, 5, 14)) == 0  # the MR and shoulder fell due years ago: quiet
    assert send_due(engine=engine, today=date(2025, 5, 15)) == 1  # the CT's day
    assert send_due(engine=engine, today=date(2025, 6, 1)) == 0  # once each, ever
    assert send_due(engine=engine, today=date(2019, 3, 20)) == 1  # the brain MR's 定期 (6 months), in its window
    with session_scope(engine, readonly=True) as s:
        keys = {n.event_key for n in s.exec(select(Notification).where(Notification.kind == "followup_due"))}
    assert {k.split(":")[0] for k in keys} == {"followup"} and len(keys) == 2

    # The follow-up CT arrives: the reminder is done, the chest X-ray or a brain study would not do.
    make_study(engine, institution_id=nj1, uid="1.2.826.0.1.19.5", local_patient_id="NJ0001234",
               when=datetime(2025, 5, 30, 9, 0, tzinfo=CST), modality="CT", body_part="CHEST")
    ct = {i["title"]: i for i in client.get(url).json()["items"]}["胸部CT增强"]
    assert ct["status"] == "done" and ct["done_by"]


def test_the_due_job_reads_only_due_reminder_rows_never_the_timelines(client: httpx.Client, app: FastAPI,
                                                                      engine: Engine, settings: Settings) -> None:
    """The daily job must scale with the reminders that fell due, not with the people: with nothing due
    it runs one bounded query on the reminder rows, and it never reads timelines, studies or reports."""
    seed_records(settings=settings, engine=engine, ct_slices=6)
    with session_scope(engine, readonly=True) as s:
        zhang = s.exec(select(Person).where(Person.name == "张伟")).one().id
        rows = {r.study_id: r for r in s.exec(select(FollowupReminder))}
    read_as(app, engine, zhang)
    derived = {i["study_id"]: i for i in client.get(f"/api/v1/people/{zhang}/reminders").json()["items"]}
    # The rows the ingest and report writes left behind are exactly the reminders a reader derives.
    assert set(rows) == set(derived) and len(rows) >= 3
    assert all(rows[k].due.isoformat() == v["due"] and (rows[k].done_by is not None) == (v["status"] == "done")
               for k, v in derived.items())

    with sent_statements(engine) as statements:
        assert send_due(engine=engine, today=date(2031, 1, 1)) == 0  # nothing due: one indexed query
        quiet = list(statements)
        statements.clear()
        assert send_due(engine=engine, today=date(2025, 5, 15), batch=1) == 1  # the CT's day, batches of one
    touched = [s for s in quiet if s.lstrip().startswith(("select", "update", "insert", "delete"))]
    assert len(touched) == 1 and "from followup_reminder" in touched[0], touched
    for table in ("timeline_entry", "imaging_study", "diagnostic_report", "person "):
        assert not any(f"from {table}" in s for s in quiet + statements), table
    with session_scope(engine, readonly=True) as s:
        assert [r.notified_at is not None for r in s.exec(select(FollowupReminder).where(
            FollowupReminder.due == date(2025, 5, 15)))] == [True]


def test_a_follow_up_study_cancels_the_stored_reminder_and_rebuild_restores_rows(
        client: httpx.Client, app: FastAPI, engine: Engine, settings: Settings) -> None:
    seed_records(settings=settings, engine=engine, ct_slices=6)
    with session_scope(engine, readonly=True) as s:
        nj1 = s.exec(select(Institution).where(Institution.name == NJ1)).one().id
        before = {r.study_id: (r.due, r.done_by) for r in s.exec(select(FollowupReminder))}
    open_ct = [k for k, (due, done) in before.items() if due == date(2025, 5, 15) and done is None]
    assert len(open_ct) == 1
    make_study(engine, institution_id=nj1, uid="1.2.826.0.1.19.6", local_patient_id="NJ0001234",
               when=datetime(2025, 5, 30, 9, 0, tzinfo=CST), modality="CT", body_part="CHEST")
    with session_scope(engine, readonly=True) as s:
        assert s.get(FollowupReminder, open_ct[0]).done_by is not None  # type: ignore[union-attr]
    assert send_due(engine=engine, today=date(2025, 5, 15)) == 0  # cancelled: no notice
    with session_scope(engine) as s:  # an upgraded database starts with no rows: rebuild derives them all
        s.execute(sa_delete(FollowupReminder))
    assert rebuild(engine=engine, batch=1) == len(before)
    with session_scope(engine, readonly=True) as s:
        assert {r.study_id for r in s.exec(select(FollowupReminder))} == set(before)
