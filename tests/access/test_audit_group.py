"""Group commit of read events on PostgreSQL (backend/access/audit_group.py): reads behind a busy chain
share one chain write; the reader's commit returns only once its events are durable; a failed batch
fails the reads; a lone read, and a transaction that wrote anything, write their own events in their
own commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.access import audit, audit_group
from backend.access.principals import AccountPrincipal
from backend.db import session_scope

ALICE = AccountPrincipal(account_id="a" * 32)


@pytest.fixture
def pg(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("group commit is PostgreSQL's (SQLite serializes every writer anyway)")
    return engine


def _read(engine: Engine, n: int, *, action: str = audit.READ) -> None:
    with session_scope(engine) as session:
        session.execute(text("SELECT 1"))
        audit.record(session, principal=ALICE, action=action, event_type="study.read", person_id="p1",
                     object_type="study", object_id=f"s{n}")


@contextmanager
def _chain_busy(engine: Engine) -> Iterator[None]:
    """Another transaction holds the chain's advisory lock until the block ends: the chain is busy."""
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": audit._PG_LOCK_KEY})
        yield
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": audit._PG_LOCK_KEY})
        holder.commit()


def _count(engine: Engine) -> int:
    with session_scope(engine, readonly=True) as session:
        return int(session.execute(text("SELECT count(*) FROM audit_event")).scalar_one())


def test_reads_behind_a_busy_chain_share_one_write_each_durable_before_its_commit_returns(
        pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    original = audit._write_events

    def counting(session: Session, pending: list[Any]) -> None:
        if session.info.get(audit_group.WRITER):
            batches.append(len(pending))
        original(session, pending)

    monkeypatch.setattr(audit, "_write_events", counting)
    audit_group._writers.pop(pg, None)  # a writer bound to the counting function
    seen_after_commit: list[bool] = []

    def reader(n: int) -> None:
        _read(pg, n)
        with session_scope(pg, readonly=True) as session:  # durable before the reader's commit returned
            seen_after_commit.append(session.execute(
                text("SELECT count(*) FROM audit_event WHERE object_id = :o"), {"o": f"s{n}"}).scalar_one() == 1)

    with _chain_busy(pg):  # another transaction holds the chain's lock
        threads = [threading.Thread(target=reader, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        assert seen_after_commit == []  # nobody answered before its audit event was written
    for thread in threads:
        thread.join()
    audit_group._writers.pop(pg, None)
    assert seen_after_commit == [True] * 40
    assert sum(batches) == 40 and len(batches) < 40  # reads shared chain writes
    with session_scope(pg, readonly=True) as session:
        assert audit.verify_chain(session).ok


def test_a_lone_read_writes_its_own_event_at_once(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: Any) -> None:
        raise AssertionError("the chain was free: no hand-off")

    monkeypatch.setattr(audit_group.GroupWriter, "submit", never)
    _read(pg, 3)
    assert _count(pg) == 1


def test_a_failed_batch_fails_the_read(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session: Session, pending: list[Any]) -> None:
        raise RuntimeError("the database went away")

    audit_group._writers.pop(pg, None)
    monkeypatch.setattr(audit, "_write_events", broken)
    monkeypatch.setattr(audit, "_may_defer", lambda session: True)  # as when the chain is busy
    with pytest.raises(RuntimeError, match="went away"):
        _read(pg, 1)
    audit_group._writers.pop(pg, None)


def test_a_transaction_that_wrote_writes_its_own_events(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: Any) -> None:
        raise AssertionError("a writing transaction must not wait for the group writer")

    monkeypatch.setattr(audit_group.GroupWriter, "submit", never)
    with pg.connect() as holder:  # the chain busy for a second: these wait for it rather than hand off
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": audit._PG_LOCK_KEY})
        release = threading.Timer(1.0, lambda: (holder.execute(
            text("SELECT pg_advisory_unlock(:k)"), {"k": audit._PG_LOCK_KEY}), holder.commit()))
        release.start()
        with session_scope(pg) as session:  # a transaction id assigned, as by any write
            session.execute(text("SELECT txid_current()"))
            audit.record(session, principal=ALICE, action=audit.READ, event_type="study.read", person_id="p1")
        release.join()
    _read(pg, 2, action=audit.CREATE)  # not a read: written in its own commit
    assert _count(pg) == 2


def test_a_session_start_behind_a_busy_chain_commits_its_work_and_returns_once_its_event_is_durable(
        pg: Engine) -> None:
    """A login (auth/router.py `_log_in`) marks its transaction with `events_after_work`: behind a busy
    chain its rows commit without queueing for the chain's lock, its session.start event joins the next
    group write, and the call returns only once that event is durable. Without the mark the rows would
    stay uncommitted until the chain's lock was free (one login after another in a rush)."""
    from backend.auth.models import Account

    audit_group._writers.pop(pg, None)
    returned: list[bool] = []

    def log_in(n: int) -> None:
        with session_scope(pg) as session:
            account = Account(openid=f"o-after-work-{n}")
            session.add(account)
            session.flush()
            audit.record(session, principal=AccountPrincipal(account.id), action=audit.EXECUTE,
                         event_type="session.start", object_type="session", object_id=f"sess{n}")
            audit.events_after_work(session)
        returned.append(True)

    def committed_accounts() -> int:
        with session_scope(pg, readonly=True) as session:
            return int(session.execute(text(
                "SELECT count(*) FROM account WHERE openid LIKE 'o-after-work-%'")).scalar_one())

    with _chain_busy(pg):
        threads = [threading.Thread(target=log_in, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while committed_accounts() < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert committed_accounts() == 5  # the work committed while the chain was still busy
        time.sleep(0.5)
        assert returned == []  # but nobody returned before its event was written
    for thread in threads:
        thread.join()
    audit_group._writers.pop(pg, None)
    assert returned == [True] * 5
    with session_scope(pg, readonly=True) as session:
        assert session.execute(text(
            "SELECT count(*) FROM audit_event WHERE object_id LIKE 'sess%'")).scalar_one() == 5
        assert audit.verify_chain(session).ok


def test_an_account_created_behind_a_busy_chain_still_waits_to_commit_with_its_event(pg: Engine) -> None:
    """`events_after_work` covers EXECUTE events only: an account's CREATE event commits with the account."""
    from backend.auth.models import Account

    done: list[bool] = []

    def create() -> None:
        with session_scope(pg) as session:
            account = Account(openid="o-created-behind")
            session.add(account)
            session.flush()
            audit.record(session, principal=AccountPrincipal(account.id), action=audit.CREATE,
                         event_type="account.create", object_type="account", object_id=account.id)
            audit.events_after_work(session)
        done.append(True)

    with _chain_busy(pg):
        thread = threading.Thread(target=create)
        thread.start()
        time.sleep(1.0)
        with session_scope(pg, readonly=True) as session:
            assert session.execute(text(
                "SELECT count(*) FROM account WHERE openid = 'o-created-behind'")).scalar_one() == 0
    thread.join()
    assert done == [True]
