"""SQLite: WAL, and write transactions that wait for each other instead of failing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from backend.db import make_engine, session_scope


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_concurrent_read_then_write_transactions_all_succeed(tmp_path: Path) -> None:
    # With deferred BEGIN, two transactions that both read and then write deadlock on the lock
    # upgrade and one fails at once with "database is locked"; BEGIN IMMEDIATE makes them queue.
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with session_scope(engine) as s:
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def bump() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                with session_scope(engine) as s:
                    n = s.execute(text("SELECT n FROM counter")).scalar_one()
                    s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(engine, readonly=True) as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 80


def test_connect_waits_through_a_restart_then_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: a new PostgreSQL connection is retried for CONNECT_PATIENCE_S from the outage's first
    refusal (a restart refuses connections for a moment); past it every request fails at once, marked
    retryable (nothing was committed), and db_retry.py may replay a read."""
    import time

    from sqlalchemy.exc import OperationalError

    from backend import db
    from tests.conftest import free_port

    monkeypatch.setattr(db, "CONNECT_PATIENCE_S", 0.6)
    engine = db.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")  # nothing listens
    started = time.monotonic()
    with pytest.raises(OperationalError) as first:
        engine.connect()
    assert 0.6 <= time.monotonic() - started < 5 and db.retryable(first.value)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        engine.connect()
    assert time.monotonic() - started < 0.5  # the same outage: no second wait
