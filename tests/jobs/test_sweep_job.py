"""The `sweep` job: the derived cache is swept by renderer version and age once a day whichever node
runs the job (a claim in the shared state), temporary leftovers and expired rows every time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.principals import InstitutionPrincipal
from backend.auth.demo import seed_wechat
from backend.clock import CST
from backend.config import Settings
from backend.db import session_scope
from backend.demo_records import NJ1, seed_records
from backend.institutions.models import Institution
from backend.jobs import runners
from backend.jobs import service as outbox
from backend.notify.models import Notification
from backend.previews.cache import DerivedCache
from backend.reports.schemas import ReportIn
from backend.reports.service import put_report
from tests.records.helpers import make_study

JPEG = b"\xff\xd8" + b"\x00" * 10 + b"\xff\xd9"


def test_the_derived_sweep_runs_once_a_day(settings: Settings, engine: Engine) -> None:
    ctx = runners.worker_context(settings, engine)
    cache = DerivedCache(settings.storage.derived)
    cache.write("r0-retired/p/ab/old.jpg", JPEG)
    runners.run(ctx, kind=outbox.SWEEP, key="derived")
    assert not cache.exists("r0-retired/p/ab/old.jpg")
    cache.write("r0-retired/p/ab/again.jpg", JPEG)
    runners.run(ctx, kind=outbox.SWEEP, key="derived")  # another node, the same day: only the light part
    assert cache.exists("r0-retired/p/ab/again.jpg")
    assert ctx.counts == {outbox.SWEEP: 2}


def test_the_daily_job_queues_the_follow_up_notices_once(settings: Settings, engine: Engine) -> None:
    """`yunying reminders due` needs no cron: the jobs clock's daily work queues the notices of
    follow-ups that fell due (issue 19 item 5), once, whichever node runs it."""
    seed_wechat(settings=settings, engine=engine)  # demo-patient bound to 张伟 (who reads his own studies)
    seed_records(settings=settings, engine=engine, ct_slices=4)
    with session_scope(engine, readonly=True) as s:
        nj1 = s.exec(select(Institution).where(Institution.name == NJ1)).one()
    taken = datetime.now(CST) - timedelta(days=360)  # "建议12个月后复查": due a few days ago
    uid = "1.2.826.0.1.19.9"
    study_id = make_study(engine, institution_id=nj1.id, uid=uid, local_patient_id="NJ0001234", when=taken)
    with session_scope(engine) as s:
        put_report(session=s, principal=InstitutionPrincipal(institution_id=nj1.id, key_id="test"),
                   study_instance_uid=uid, body=ReportIn(
                       study_instance_uid=uid, status="final", impression="右肺上叶微小结节，建议12个月后复查。",
                       reported_at=taken + timedelta(hours=2)))
    ctx = runners.worker_context(settings, engine)
    runners.run(ctx, kind=outbox.SWEEP, key="derived")
    runners.run(ctx, kind=outbox.SWEEP, key="derived")  # the same day again: nothing more
    with session_scope(engine, readonly=True) as s:
        due = s.exec(select(Notification).where(Notification.kind == "followup_due")).all()
    assert [n.event_key for n in due] == [f"followup:{study_id}:due"]


def test_a_grant_that_runs_out_is_told_to_the_relative_once(settings: Settings, engine: Engine) -> None:
    """Issue 19 item 1: a grant ending by its own time is said like a revoked one — to the relative, once;
    one that ended long before (an upgrade's first run) is not announced."""
    from backend.clock import utcnow
    from tests.family import helpers as h

    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P9", resident_id=h.rid_for(h.years_ago(72)), name="张建国")
    h.account(engine, "o-father9", bind_to=father)
    daughter, son = h.account(engine, "o-daughter9"), h.account(engine, "o-son9")
    ended = h.grant(engine, person_id=father, account_id=daughter, expires_at=utcnow() - timedelta(hours=1))
    h.grant(engine, person_id=father, account_id=son, expires_at=utcnow() - timedelta(days=60))
    h.grant(engine, person_id=father, account_id=h.account(engine, "o-niece9"), expires_at=utcnow() + timedelta(days=1))
    ctx = runners.worker_context(settings, engine)
    runners.run(ctx, kind=outbox.SWEEP, key="derived")
    runners.run(ctx, kind=outbox.SWEEP, key="derived")
    with session_scope(engine, readonly=True) as s:
        told = s.exec(select(Notification).where(Notification.kind == "grant_ended")).all()
    assert [(n.event_key, n.account_id) for n in told] == [(f"grant:{ended}:ended", daughter)]
