"""The outbox on its own (SQLite or PostgreSQL, no broker): a job exists if and only if its transaction
committed; a row enqueued again while it is being handed over is handed over once more; an unreachable
broker leaves every row in place; `yunying worker` refuses to start without a broker."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from backend.clock import utcnow
from backend.config import Settings
from backend.db import session_scope
from backend.jobs import service as outbox
from backend.jobs.celery_app import make_celery
from backend.jobs.models import JobOutbox
from backend.jobs.relay import Jobs
from tests.conftest import ROOT, free_port


def _rows(engine: Engine) -> list[JobOutbox]:
    with session_scope(engine, readonly=True) as session:
        return outbox.waiting(session)


def test_a_job_exists_if_and_only_if_its_transaction_committed(engine: Engine) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), session_scope(engine) as session:
        outbox.enqueue(session, kind=outbox.PRERENDER, key="s1")
        raise Boom
    assert _rows(engine) == []
    with session_scope(engine) as session:
        outbox.enqueue(session, kind=outbox.PRERENDER, key="s1")
    assert [(r.kind, r.key, r.generation) for r in _rows(engine)] == [("prerender", "s1", 1)]


def test_enqueued_again_while_claimed_it_is_handed_over_again(engine: Engine) -> None:
    with session_scope(engine) as session:
        outbox.enqueue(session, kind=outbox.PRERENDER, key="s2", delay=timedelta(seconds=3))
    assert outbox.claim(engine, lease=timedelta(minutes=1)) == []  # debounced: not due yet
    later = utcnow() + timedelta(seconds=4)
    (job,) = outbox.claim(engine, lease=timedelta(minutes=1), now=later)
    assert outbox.claim(engine, lease=timedelta(minutes=1), now=later) == []  # one holder at a time
    with session_scope(engine) as session:  # more instances of the series arrive meanwhile
        outbox.enqueue(session, kind=outbox.PRERENDER, key="s2")
    assert outbox.finish(engine, job) is False  # kept: the new instances need another run
    (again,) = outbox.claim(engine, lease=timedelta(minutes=1))
    assert again.generation == 2
    assert outbox.finish(engine, again) is True
    assert _rows(engine) == []


def test_enqueue_many_is_enqueue_of_each_key_once(engine: Engine) -> None:
    """Ingest's batch enqueues every series of a study in one statement: a key given twice counts once (one
    statement may not touch a row twice on PostgreSQL), a waiting key is moved and bumped as enqueue does."""
    with session_scope(engine) as session:
        outbox.enqueue(session, kind=outbox.PRERENDER, key="a", delay=timedelta(seconds=1))
    with session_scope(engine) as session:
        outbox.enqueue_many(session, kind=outbox.PRERENDER, keys=["a", "b", "b", "c" * 200],
                            delay=timedelta(seconds=3))
        outbox.enqueue_many(session, kind=outbox.PRERENDER, keys=[], delay=timedelta(seconds=3))
    rows = {r.key: r for r in _rows(engine)}
    assert {key: (r.kind, r.generation, r.attempts) for key, r in rows.items()} == {
        "a": ("prerender", 2, 0), "b": ("prerender", 1, 0), "c" * 128: ("prerender", 1, 0)}
    assert rows["a"].due_at == rows["b"].due_at > utcnow() + timedelta(seconds=2)
    with pytest.raises(ValueError, match="unknown job kind"), session_scope(engine) as session:
        outbox.enqueue_many(session, kind="nope", keys=["x"])


def test_an_unreachable_broker_leaves_every_job_in_the_outbox(settings: Settings, engine: Engine) -> None:
    with session_scope(engine) as session:
        for n in range(3):
            outbox.enqueue(session, kind=outbox.NOTIFY, key=f"n{n}")
    nowhere = settings.model_copy(update={"broker_url": f"amqp://guest:guest@127.0.0.1:{free_port()}//"})
    relay = Jobs(settings=nowhere, engine=engine, publisher=make_celery(nowhere), clock=False)
    assert relay.relay_once() == 0
    rows = _rows(engine)
    assert len(rows) == 3 and all(r.claimed_until is None and r.attempts == 0 for r in rows)
    with session_scope(engine) as session:  # due again at once: the next round tries again
        session.execute(update(JobOutbox).values(due_at=utcnow()))
    assert len(outbox.claim(engine, lease=timedelta(seconds=1))) == 3


def test_worker_refuses_without_a_broker(settings: Settings) -> None:
    env = {"PATH": "/usr/bin:/bin", "YUNYING_DATA_DIR": str(settings.data_dir), "YUNYING_ENV": "test"}
    done = subprocess.run([sys.executable, "-m", "backend.cli", "worker"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "YUNYING_BROKER_URL is not set" in done.stderr


def test_a_job_whose_process_keeps_dying_is_given_up_after_three_redeliveries(settings: Settings,
                                                                               engine: Engine) -> None:
    from backend.jobs.celery_app import MAX_REDELIVERIES, TASKS, _may_run_again
    from backend.jobs.runners import worker_context

    with_broker = settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:5672//"})
    task = make_celery(with_broker).tasks[TASKS[outbox.PRERENDER]]
    ctx = worker_context(settings, engine)
    task.push_request(id="first-delivery", delivery_info={"redelivered": False})
    try:
        assert all(_may_run_again(task, ctx) for _ in range(10))  # first deliveries are never counted
    finally:
        task.pop_request()
    task.push_request(id="crashes-its-decoder", delivery_info={"redelivered": True})
    try:
        runs = [_may_run_again(task, ctx) for _ in range(MAX_REDELIVERIES + 2)]
    finally:
        task.pop_request()
    assert runs == [True] * MAX_REDELIVERIES + [False, False]
