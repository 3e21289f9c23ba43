"""A new record for a bound person reaches the account's WeChat as a template message (simulator
inbox); idempotent per (event, recipient); 43101 recorded, not retried."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlmodel import select

from backend.auth.demo import seed_wechat
from backend.auth.models import Binding
from backend.db import session_scope
from backend.notify.models import PENDING, REFUSED, SENT, Notification
from backend.notify.service import MESSAGE_TITLE, dispatch_pending, notify_new_record

pytestmark = pytest.mark.live


def _demo_person(engine) -> str:  # type: ignore[no-untyped-def]
    with session_scope(engine, readonly=True) as session:
        return session.exec(select(Binding.person_id)).one()


def _wait_status(engine, status: str, timeout: float = 15) -> list[Notification]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(engine, readonly=True) as session:
            rows = list(session.exec(select(Notification)).all())
        if rows and all(r.status == status for r in rows):
            return rows
        time.sleep(0.3)
    raise AssertionError(f"notifications not {status}: {[(r.status, r.last_error) for r in rows]}")


def test_new_study_notifies_the_bound_account(settings, engine, live_server) -> None:  # type: ignore[no-untyped-def]
    seed_wechat(settings=settings, engine=engine)
    person_id = _demo_person(engine)
    with session_scope(engine) as session:
        assert notify_new_record(session=session, person_id=person_id, record_kind="imaging_study", record_id="s1") == 1
        # The same event again (a re-upload): nothing new.
        assert notify_new_record(session=session, person_id=person_id, record_kind="imaging_study", record_id="s1") == 0
    _wait_status(engine, SENT)  # the server's dispatcher thread sent it
    inbox = httpx.get(f"{live_server.url}/_sim/wechat/inbox", params={"kind": "template"}).json()
    assert len(inbox) == 1 and inbox[0]["to"] == "demo-patient"
    assert inbox[0]["data"]["first"]["value"] == MESSAGE_TITLE
    assert inbox[0]["url"] == f"{live_server.url}/"
    assert "320106" not in str(inbox[0]) and "张伟" not in str(inbox[0])  # no identifiers, no findings


def test_user_refused_is_recorded_not_retried(settings, engine, live_server) -> None:  # type: ignore[no-untyped-def]
    seed_wechat(settings=settings, engine=engine)
    httpx.post(f"{live_server.url}/_sim/wechat/control", json={"openid": "demo-patient", "template_errcode": 43101})
    with session_scope(engine) as session:
        notify_new_record(session=session, person_id=_demo_person(engine), record_kind="imaging_study",
                          record_id="s2")
    rows = _wait_status(engine, REFUSED)
    assert rows[0].attempts == 1 and "43101" in (rows[0].last_error or "")
    assert httpx.get(f"{live_server.url}/_sim/wechat/inbox", params={"kind": "template"}).json() == []


def test_failure_is_retried_with_backoff(settings, engine) -> None:  # type: ignore[no-untyped-def]
    """No WeChat reachable at all: the row stays pending with a later next attempt."""
    seed_wechat(settings=settings, engine=engine)
    unreachable = settings.model_copy(update={"wechat_api_base": "http://127.0.0.1:9"})
    with session_scope(engine) as session:
        notify_new_record(session=session, person_id=_demo_person(engine), record_kind="diagnostic_report",
                          record_id="r1")
    counts = dispatch_pending(settings=unreachable, engine=engine)
    assert counts["retry"] == 1
    with session_scope(engine, readonly=True) as session:
        row = session.exec(select(Notification)).one()
    assert row.status == PENDING and row.attempts == 1 and row.last_error
    assert dispatch_pending(settings=unreachable, engine=engine)["retry"] == 0  # not due yet (backoff)


def test_concurrent_dispatchers_send_each_message_once(settings, engine, live_server) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    seed_wechat(settings=settings, engine=engine)
    person_id = _demo_person(engine)
    with session_scope(engine) as session:
        for n in range(6):
            notify_new_record(session=session, person_id=person_id, record_kind="imaging_study", record_id=f"c{n}")
    here = settings.model_copy(update={"public_url": live_server.url})
    with ThreadPoolExecutor(max_workers=3) as pool:  # plus the server's own dispatcher thread
        list(pool.map(lambda _: dispatch_pending(settings=here, engine=engine), range(3)))
    _wait_status(engine, SENT)
    assert len(httpx.get(f"{live_server.url}/_sim/wechat/inbox", params={"kind": "template"}).json()) == 6


def test_a_sender_that_died_mid_send_is_never_followed_by_a_second_send(settings, engine, live_server) -> None:  # type: ignore[no-untyped-def]
    """At most once (issue 17): a row still "sending" after its lease belonged to a sender killed while
    WeChat may already have accepted the message; it is closed as failed, never sent again."""
    from datetime import timedelta

    from backend.clock import utcnow
    from backend.notify.models import FAILED, SENDING
    from backend.notify.service import SEND_LEASE, send_one

    seed_wechat(settings=settings, engine=engine)
    with session_scope(engine) as session:
        notify_new_record(session=session, person_id=_demo_person(engine), record_kind="diagnostic_report",
                          record_id="r-died")
    with session_scope(engine) as session:  # what a sender killed between WeChat's answer and its commit leaves
        row = session.exec(select(Notification)).one()
        row.status, row.attempts, row.next_attempt_at = SENDING, 1, utcnow() + SEND_LEASE
        session.add(row)
        row_id = row.id
    live = settings.model_copy(update={"public_url": live_server.url})
    assert send_one(settings=live, engine=engine, notification_id=row_id) == "later"  # a live sender may hold it
    later = utcnow() + SEND_LEASE + timedelta(seconds=1)
    assert send_one(settings=live, engine=engine, notification_id=row_id, now=later) == FAILED
    assert send_one(settings=live, engine=engine, notification_id=row_id, now=later) == "done"
    with session_scope(engine, readonly=True) as session:
        row = session.exec(select(Notification)).one()
    assert row.status == FAILED and "died while sending" in (row.last_error or "")
    assert httpx.get(f"{live_server.url}/_sim/wechat/inbox", params={"kind": "template"}).json() == []


def test_redis_gone_leaves_the_notice_pending_not_lost(settings, engine) -> None:  # type: ignore[no-untyped-def]
    """Found by the standard load run (issue 18): with Redis stopped the access-token lookup failed after
    the row was claimed, the row stayed "sending", and the next run closed it as died mid-send — never
    sent. Nothing reached WeChat, so it is pending again with a backoff, and sent once Redis is back."""
    from tests.conftest import free_port

    seed_wechat(settings=settings, engine=engine)
    redis_gone = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with session_scope(engine) as session:
        notify_new_record(session=session, person_id=_demo_person(engine), record_kind="diagnostic_report",
                          record_id="r-redis")
    counts = dispatch_pending(settings=redis_gone, engine=engine)
    assert counts["retry"] == 1
    with session_scope(engine, readonly=True) as session:
        row = session.exec(select(Notification)).one()
    assert row.status == PENDING and row.last_error == "shared state unavailable"
