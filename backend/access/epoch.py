"""The access epoch: a counter the database bumps on every write that can narrow an access decision.

Why: the preview hot path (imaging/previews/fastpath.py) serves dozens of images a second to one
phone; re-running the whole policy (session row, binding, grants, share, person, study) per image
costs more than serving the image. A decision computed by `authorize_person` may be reused while no
row it depends on has changed — and "changed" is decided by the database itself: triggers on the
tables listed in migration 0012_access_epoch (its WATCHED) add 1 to `access_epoch.value` in the writing
transaction, whoever writes (ORM, raw SQL, CLI, a future module that forgets to call anything).
So a revocation, a logout, a withdrawn share or an unbinding acts on the very next request.

Ordering (why a reader reads the epoch *first*): a decision is tagged with the epoch read before the
rows it was computed from. A write that commits in between makes the tag older than the counter, so
the decision is recomputed at the next request — never the reverse. SQLite reads inside one
transaction see one snapshot; PostgreSQL (READ COMMITTED) sees later rows than the epoch: both safe.

Inserts that cannot narrow access (a new session, share session or study) are not watched, so a busy
province-wide ingest does not empty everyone's decision cache.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

QUERY = "SELECT value FROM access_epoch WHERE id = 1"


def current(session: Session) -> int | None:
    """The epoch inside a session's transaction (read it before the rows a decision depends on).
    None when the counter row is missing: nothing may then be reused."""
    value = session.execute(text(QUERY)).scalar()
    return None if value is None else int(value)


class EpochReader:
    """Reads the epoch on one dedicated connection, outside any ORM session (~tens of µs).

    One reader per process and per thread that uses it: the event loop of a web worker owns one.
    On any database error the connection is dropped and the caller treats the epoch as unknown
    (None), which means "recompute the decision"."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._raw: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        raw = self._engine.raw_connection()
        if self._engine.dialect.name == "postgresql":
            # a lone SELECT per read: no transaction left open between reads
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        return raw

    def read(self, *, connect: bool = True) -> int | None:
        """The epoch, or None (unknown). ``connect=False`` is for the event loop: it never waits — not
        for a connection (a new one comes from the engine's pool, which may be empty in a rush for up
        to its 30 s timeout; and the connections it waits for may be held by requests whose clean-up
        the blocked loop would run: every request on the node stalled, issue 18), nor for another
        thread's read. Without the connection, or while another thread is reading, it says None, and
        the caller takes its ordinary path (a worker thread, which may connect)."""
        if not connect:
            if self._raw is None or not self._lock.acquire(blocking=False):
                return None
            try:
                return self._read_locked(connect=False)
            finally:
                self._lock.release()
        with self._lock:
            return self._read_locked(connect=True)

    @property
    def connected(self) -> bool:
        return self._raw is not None

    def _read_locked(self, *, connect: bool) -> int | None:
        try:
            if self._raw is None:
                if not connect:
                    return None
                self._raw = self._connect()
            cursor = self._raw.cursor()
            try:
                cursor.execute(QUERY)
                row = cursor.fetchone()
            finally:
                cursor.close()
            return int(row[0]) if row else None
        except Exception:  # noqa: BLE001 - any failure: unknown epoch, the caller recomputes
            self.close_locked()
            return None

    def close_locked(self) -> None:
        if self._raw is not None:
            try:
                self._raw.invalidate()
            except Exception:  # noqa: BLE001, S110 - already broken
                pass
            self._raw = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()
