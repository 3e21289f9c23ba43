"""Follow-up reminders from the demo's real report phrasing: due dates, the due notice (once), and a
reminder done when a comparable study arrives (issue 19 item 5)."""

from __future__ import annotations

from datetime import date, datetime

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.clock import CST
from backend.config import Settings
from backend.db import session_scope
from backend.demo_records import NJ1, seed_records
from backend.institutions.models import Institution
from backend.notify.models import Notification
from backend.people.models import Person
from backend.reminders.service import send_due
from tests.records.helpers import make_study, read_as


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
