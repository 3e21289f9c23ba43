"""The `pdf` job, in-process: a report stored for a study already matched to a person queues it in the
report's transaction; running it renders and records the PDF, so the patient's first download is a
cache hit; a second run (a redelivered job) renders nothing new."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.clock import utcnow
from backend.db import session_scope
from backend.jobs import service as outbox
from backend.jobs.models import JobOutbox
from backend.pdf.models import PdfDocument
from tests.ingest.test_stow import CT_3SLICE, stow
from tests.pdf.helpers import put_report
from tests.records.helpers import ZHANG_WEI, hospital, read_as, register


def _documents(engine: Engine) -> list[PdfDocument]:
    with session_scope(engine, readonly=True) as session:
        return list(session.exec(select(PdfDocument)).all())


def test_a_report_for_a_matched_study_gets_its_pdf_prerendered(app: FastAPI, engine: Engine) -> None:
    app.state.job_lanes = ()  # this test runs the jobs itself
    with TestClient(app, base_url="http://testserver") as client:
        _, key = hospital(engine, "南京市第一医院")
        person = register(client, key, "99000", ZHANG_WEI, "张伟")
        status, _ = stow(client, key["Authorization"].removeprefix("Bearer "), [p.read_bytes() for p in CT_3SLICE])
        assert status == 200
        study_id = put_report(client, key).json()["study_id"]
        with session_scope(engine, readonly=True) as session:
            assert [row.key for row in outbox.waiting(session, kind=outbox.PDF)] == [study_id]
        with session_scope(engine) as session:
            session.execute(update(JobOutbox).values(due_at=utcnow() - timedelta(seconds=1)))
        jobs = app.state.jobs
        assert jobs.run_once((outbox.PDF,)) == 1
        (document,) = _documents(engine)
        assert document.object_id == study_id and document.lang == "zh-CN"
        with session_scope(engine) as session:  # the same job delivered again: nothing new
            outbox.enqueue(session, kind=outbox.PDF, key=study_id)
            session.execute(update(JobOutbox).values(due_at=utcnow() - timedelta(seconds=1)))
        assert jobs.run_once((outbox.PDF,)) == 1
        assert [d.id for d in _documents(engine)] == [document.id]
        read_as(app, engine, person)
        r = client.get(f"/api/v1/people/{person}/studies/{study_id}/report.pdf")
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        assert [d.id for d in _documents(engine)] == [document.id]  # served from the pre-rendered document
