"""Engine and sessions.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction that may
write starts with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes cannot wait
for the write lock and fails at once with "database is locked" when another writer holds it
(https://www.sqlite.org/lang_transaction.html). Sessions marked read-only keep the deferred BEGIN so
readers never queue behind writers. PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

from backend.sqlite_writers import WriterQueue
from backend.storage.private import private_sqlite

READONLY = "yunying_readonly"
SQLITE_BUSY_TIMEOUT_S = 15
# A PostgreSQL restart refuses connections for a moment (issue 18): a new connection is retried for up to
# CONNECT_PATIENCE_S counted from the first refusal of the outage — not per request, so while the database
# stays down every request fails at once after that instead of each waiting its own few seconds.
CONNECT_PATIENCE_S = 3.0
CONNECT_RETRY_S = 0.25
AT_COMMIT = "yunying_at_commit"  # attribute on an error raised by a commit: it may have committed
CONNECT_FAILED = "yunying_connect_failed"  # attribute on a DBAPI error: no connection was ever made


class _Outage:
    """When connecting first failed in the current outage (None: connecting works)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.lock = threading.Lock()


def _patient_connect(outage: _Outage) -> Callable[..., Any]:
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        while True:
            try:
                made = dialect.loaded_dbapi.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError as exc:
                now = time.monotonic()
                with outage.lock:
                    if outage.since is None:
                        outage.since = now
                    waited = now - outage.since
                if waited >= CONNECT_PATIENCE_S:
                    setattr(exc, CONNECT_FAILED, True)
                    raise
                time.sleep(CONNECT_RETRY_S)
                continue
            with outage.lock:
                outage.since = None
            return made

    return connect


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(writers: WriterQueue | None) -> Callable[[Any], None]:
    def begin(conn: Any) -> None:
        if conn.get_execution_options().get(READONLY, False):
            conn.exec_driver_sql("BEGIN")
            return
        if writers is not None:
            writers.wait_turn(conn.connection.dbapi_connection)
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return begin


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        on_disk = database if database and database != ":memory:" and not database.startswith("file:") else None
        if on_disk:
            private_sqlite(Path(on_disk))  # 0600 before SQLite creates it (its -wal/-shm copy the mode)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
            # Pooled: opening a connection and re-running the PRAGMAs cost ~1 ms (p50) per request.
            # Each pooled connection is its own WAL reader or the single writer.
            poolclass=QueuePool if ":memory:" not in url else None,
            pool_size=8,
            max_overflow=16,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        writers = WriterQueue(engine, database=Path(on_disk), patience_s=SQLITE_BUSY_TIMEOUT_S) if on_disk else None
        event.listen(engine, "begin", _sqlite_begin(writers))
        return engine
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
    event.listen(engine, "do_connect", _patient_connect(_Outage()))
    return engine


def retryable(exc: OperationalError) -> bool:
    """True when ``exc`` cut the request off before anything of it can have been committed: the
    connection failed to open, or died (a restart, pg_terminate_backend) on a statement before the
    commit. A failure of the commit itself (or of the wait for a read's audit batch after it) is not:
    the server may have committed before the connection died."""
    if getattr(exc, AT_COMMIT, False):
        return False
    return bool(exc.connection_invalidated) or bool(getattr(exc.orig, CONNECT_FAILED, False))


SCOPED = "yunying_scoped"  # session.info: made by session_scope, which runs AFTER_RELEASE callbacks
AFTER_RELEASE = "yunying_after_release"  # session.info: callables to run once committed and closed


@contextmanager
def session_scope(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """A unit of work that commits once at the end (or rolls back on error). What must follow the commit
    but need no connection (waiting for a read's audit events: access/audit_group.py) runs after the
    session has given its connection back, so waiting never holds one of the pool's connections."""
    with Session(engine, expire_on_commit=False) as session:
        session.info[SCOPED] = True
        if readonly:
            mark_readonly(session)
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        try:
            session.commit()
        except OperationalError as exc:
            setattr(exc, AT_COMMIT, True)
            session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        after: list[Callable[[], None]] = session.info.pop(AFTER_RELEASE, [])
    try:
        for callback in after:
            callback()
    except OperationalError as exc:  # a read's audit batch failed: it may have committed (audit_group.py)
        setattr(exc, AT_COMMIT, True)
        raise


def dialect_insert(dialect: str, model: Any) -> Any:
    """INSERT … for ``model`` (a class or a table) in ``dialect`` (both know ON CONFLICT)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


def _insert(session: Session, model: Any) -> Any:
    return dialect_insert(session.get_bind().dialect.name, model)


def insert_missing(session: Session, model: Any, *, values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT … ON CONFLICT (keys) DO NOTHING: the row exists afterwards whoever won a race; True when
    this call created it. The read-then-insert it replaces races under READ COMMITTED (PostgreSQL: the
    loser's INSERT fails on the unique key; SQLite hid it by serializing writers)."""
    # RETURNING tells whether a row went in (psycopg's rowcount is -1 for INSERT … ON CONFLICT here).
    statement = _insert(session, model).values(**values).on_conflict_do_nothing(index_elements=keys)
    return session.execute(statement.returning(getattr(model, keys[0]))).first() is not None


def upsert(session: Session, model: Any, *, values: dict[str, Any], keys: list[str], update: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update: one statement, no race between reading and writing."""
    session.execute(_insert(session, model).values(**values).on_conflict_do_update(index_elements=keys, set_=update))


def mark_readonly(session: Session) -> None:
    """Open the session's transaction as a plain (deferred) read transaction. Call before any query."""
    session.connection(execution_options={READONLY: True})  # type: ignore[misc]


def check_database(engine: Engine) -> None:
    """Raises if the database cannot answer a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
