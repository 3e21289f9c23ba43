"""SQLite writers queue on ``<database>-writer`` (backend/sqlite_writers.py): the turn is taken before
BEGIN IMMEDIATE and handed on right after COMMIT or ROLLBACK, so a waiting writer starts when the last
one ends instead of sleeping through SQLite's busy handler (issue 21)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from backend import db
from backend.db import make_engine, session_scope
from backend.sqlite_writers import HELD_HERE, WriterQueue

ROOT = Path(__file__).resolve().parents[1]


def _turn_is_free(database: Path) -> bool:
    """Can another writer take the turn right now? (a probe of its own open file description)"""
    fd = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also drops the probe's lock
    return True


@contextmanager
def _held_by_another(database: Path) -> Iterator[None]:
    fd = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def _table(database: Path) -> None:
    with session_scope(make_engine(f"sqlite:///{database}")) as s:
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))


def test_a_write_transaction_holds_the_turn_until_its_commit(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")
    assert _turn_is_free(database)
    with session_scope(engine) as s:
        s.execute(text("UPDATE counter SET n = n + 1"))
        assert not _turn_is_free(database)
    assert _turn_is_free(database)


def test_a_rollback_hands_the_turn_on(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        s.execute(text("UPDATE counter SET n = n + 1"))
        raise RuntimeError("the request failed")
    assert _turn_is_free(database)
    with session_scope(engine, readonly=True) as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 0


def test_readers_do_not_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")
    waited: list[object] = []
    real_wait = WriterQueue.wait_turn
    monkeypatch.setattr(WriterQueue, "wait_turn", lambda self, conn: (waited.append(conn), real_wait(self, conn)))
    with _held_by_another(database), session_scope(engine, readonly=True) as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 0
    assert waited == []
    with session_scope(engine) as s:  # the spy sees a writer
        s.execute(text("UPDATE counter SET n = n + 1"))
    assert len(waited) == 1


def test_a_writer_that_cannot_get_its_turn_goes_on_to_sqlite_after_its_patience(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A holder of the turn that is not a SQLite writer (a stuck process of ours, a tool) never blocks
    # writes for longer than the busy timeout: SQLite's own lock decides then.
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")
    with _held_by_another(database):
        started = time.monotonic()
        with session_scope(engine) as s:
            s.execute(text("UPDATE counter SET n = n + 1"))
        assert time.monotonic() - started >= 0.3  # it did wait for the turn first
    with session_scope(engine, readonly=True) as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 1


_HOLDER = """
import sys, time
from sqlalchemy import text
from backend.db import make_engine
engine = make_engine(f"sqlite:///{sys.argv[1]}")
conn = engine.connect()
conn.begin()
conn.execute(text("UPDATE counter SET n = n + 100"))
print("holding", flush=True)
time.sleep(120)
"""


def test_a_writer_killed_in_its_transaction_does_not_block_the_next(tmp_path: Path) -> None:
    # kill -9 of a worker in the middle of a write: the kernel drops its turn with its descriptors,
    # SQLite rolls its transaction back, and the next writer goes ahead at once.
    database = tmp_path / "x.db"
    _table(database)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(database)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        assert not _turn_is_free(database)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        engine = make_engine(f"sqlite:///{database}")
        started = time.monotonic()
        with session_scope(engine) as s:
            s.execute(text("UPDATE counter SET n = n + 1"))
        assert time.monotonic() - started < 5  # not the 15 s busy timeout
        with session_scope(engine, readonly=True) as s:
            assert s.execute(text("SELECT n FROM counter")).scalar_one() == 1  # the killed +100 never landed
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


_WRITER = """
import sys
from sqlalchemy import text
from backend.db import make_engine, session_scope
from backend.sqlite_writers import WriterQueue
engine = make_engine(f"sqlite:///{sys.argv[1]}")
for _ in range(int(sys.argv[2])):
    with session_scope(engine) as s:
        n = s.execute(text("SELECT n FROM counter")).scalar_one()
        s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
"""


def test_writers_of_two_processes_and_several_threads_all_land(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")
    other = subprocess.Popen([sys.executable, "-c", _WRITER, str(database), "60"], cwd=ROOT)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(20):
                with session_scope(engine) as s:  # read, then write: lost updates if two overlapped
                    n = s.execute(text("SELECT n FROM counter")).scalar_one()
                    s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other.wait(timeout=120) == 0
    assert errors == []
    with session_scope(engine, readonly=True) as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 120
    assert _turn_is_free(database)


# -- the process's own turns, for the STOW-RS receive to give way to (backend/ingest/giveway.py) --------------
@contextmanager
def _writer_in_a_thread(engine: Engine) -> Iterator[threading.Event]:
    """A write transaction in a thread of this process, held until the yielded event is set."""
    holding, finish = threading.Event(), threading.Event()

    def write() -> None:
        with session_scope(engine) as s:
            s.execute(text("UPDATE counter SET n = n + 1"))
            holding.set()
            finish.wait(30)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert holding.wait(10)
        yield finish
    finally:
        finish.set()
        thread.join(10)


def test_the_process_knows_while_one_of_its_writers_holds_the_turn(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")
    assert not HELD_HERE.held
    with session_scope(engine, readonly=True) as s:  # a reader takes no turn
        s.execute(text("SELECT n FROM counter"))
        assert not HELD_HERE.held
    with session_scope(engine) as s:
        s.execute(text("UPDATE counter SET n = n + 1"))
        assert HELD_HERE.held
    assert not HELD_HERE.held
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        s.execute(text("UPDATE counter SET n = n + 1"))
        raise RuntimeError("rolled back")
    assert not HELD_HERE.held
    with _held_by_another(database):  # another process's turn is not this process's
        assert not HELD_HERE.held


def test_a_waiter_on_the_event_loop_is_woken_when_the_writer_commits(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")

    async def scenario() -> None:
        with _writer_in_a_thread(engine) as finish:
            waiter = asyncio.ensure_future(HELD_HERE.released(within_s=30))
            await asyncio.sleep(0.2)
            assert not waiter.done()  # the turn is still held
            finish.set()
            await asyncio.wait_for(waiter, 10)  # woken by the give-back, long before its 30 s
            assert not HELD_HERE.held

    asyncio.run(scenario())


def test_a_waiter_goes_on_after_its_time_while_the_turn_is_still_held(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")

    async def scenario() -> None:
        with _writer_in_a_thread(engine):
            await asyncio.wait_for(HELD_HERE.released(within_s=0.05), 10)
            assert HELD_HERE.held  # it went on without the turn given back
            assert HELD_HERE._waiting == []  # and left no waiter behind
        assert not HELD_HERE.held

    asyncio.run(scenario())


def test_without_a_turn_held_a_waiter_returns_at_once() -> None:
    async def scenario() -> None:
        await asyncio.wait_for(HELD_HERE.released(within_s=30), 1)

    asyncio.run(scenario())


def test_a_connection_closed_in_its_transaction_leaves_no_turn_held_here(tmp_path: Path) -> None:
    # A connection invalidated mid-transaction (a database error) is closed without COMMIT or ROLLBACK:
    # its descriptor's lock goes with it, and so must the process's count, or every later upload would
    # give way for nothing.
    database = tmp_path / "x.db"
    _table(database)
    engine = make_engine(f"sqlite:///{database}")
    connection = engine.connect()
    connection.begin()
    connection.execute(text("UPDATE counter SET n = n + 1"))
    assert HELD_HERE.held
    connection.invalidate()
    assert not HELD_HERE.held
    assert _turn_is_free(database)
    connection.close()
