"""One SQLite writer at a time, handed on the moment the last one commits (issue 21).

SQLite lets one connection write at a time. A second ``BEGIN IMMEDIATE`` meets SQLITE_BUSY and its busy
handler SLEEPS: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms and so on (``sqliteDefaultBusyCallback``,
sqlite3 main.c), whether or not the lock came free meanwhile. With two ingest workers flushing STOW
batches that hold the lock ~15 ms each, a flush that arrives during another's slept 20–50 ms past its
end, and the request behind it waited: the index stage's wall time at four clients was 4× its CPU
(docs/ingest.md round 6).

So writers queue on an advisory lock of their own first: ``flock(2)`` on ``<database>-writer``, one
open file description per connection (so that two threads of one process exclude each other too),
taken before ``BEGIN IMMEDIATE`` and given back right after the COMMIT or ROLLBACK. Taking it is
polled every 0.2–1 ms (``LOCK_NB``), so a waiter starts within a millisecond of the commit; the SQLite
busy handler then rarely runs. Nothing depends on it for correctness: SQLite's own lock still decides,
a writer that is not ours (the CLI of an older version, ``sqlite3`` by hand) simply does not queue, and
a writer that cannot get its turn within the busy timeout goes on to ``BEGIN IMMEDIATE`` as before. The
kernel drops the lock of a process that dies (``kill -9`` of a worker holding it).

A process also knows whether one of its own connections holds the turn (:data:`HELD_HERE`): while it does,
its STOW-RS receive gives way on the event loop, so that the writer's thread is not kept waiting for the
GIL with the lock in hand (backend/ingest/giveway.py; docs/ingest.md round 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_POLL_S = (0.0002, 0.0002, 0.0005, 0.0005)  # then every _POLL_MAX_S
_POLL_MAX_S = 0.001


class HeldHere:
    """How many of this process's connections hold their turn, and the event loops waiting for none.

    Taken and given back in whatever thread runs the transaction; waited for on an event loop. A waiter
    is woken through its loop (``call_soon_threadsafe``) by the give-back that leaves none held."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def held(self) -> bool:
        return self._count > 0

    def took(self) -> None:
        with self._lock:
            self._count += 1

    def gave_back(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count > 0:
                return
            waiting, self._waiting = self._waiting, []
        for loop, future in waiting:
            # called from a commit's give-back: nothing here may fail it (a loop closed meanwhile has no waiter)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future)

    async def released(self, *, within_s: float) -> None:
        """Return once none of this process's connections holds the turn, or after ``within_s``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._count == 0:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiting.append((loop, future))
        try:
            await asyncio.wait_for(future, within_s)
        except TimeoutError:
            with self._lock:  # still held: forget this waiter (a give-back may already have taken it)
                self._waiting = [(lp, f) for lp, f in self._waiting if f is not future]


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():  # a waiter that timed out was cancelled
        future.set_result(None)


HELD_HERE = HeldHere()  # this process's turns (the web workers are spawned, not forked: each starts at none)


class _Turn:
    """A connection's descriptor of the lock file, and whether it holds the lock."""

    __slots__ = ("fd", "held")

    def __init__(self, fd: int) -> None:
        self.fd, self.held = fd, False

    def take(self, *, patience_s: float) -> None:
        if self.held:
            return
        deadline = time.monotonic() + patience_s
        tries = 0
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return  # SQLite's own busy timeout decides from here
                time.sleep(_POLL_S[tries] if tries < len(_POLL_S) else _POLL_MAX_S)
                tries += 1
                continue
            self.held = True
            HELD_HERE.took()
            return

    def give_back(self) -> None:
        if self.held:
            self.held = False
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                HELD_HERE.gave_back()

    def close(self) -> None:
        """Close the descriptor, which drops a lock still held (a connection closed in its transaction)."""
        os.close(self.fd)
        if self.held:
            self.held = False
            HELD_HERE.gave_back()


class WriterQueue:
    """The turns of one engine's connections (see module docstring)."""

    def __init__(self, engine: Engine, *, database: Path, patience_s: float) -> None:
        self._lock_path = database.with_name(database.name + "-writer")
        self._patience_s = patience_s
        self._turns: dict[int, _Turn] = {}  # id(DBAPI connection) -> its turn
        event.listen(engine, "connect", self._open)
        event.listen(engine, "close", self._close)
        event.listen(engine, "close_detached", self._close_detached)
        event.listen(engine, "checkin", self._checkin)
        # The events "commit" and "rollback" fire BEFORE the DBAPI call; the turn must pass only after it,
        # when SQLite has let go of its own lock: so the dialect's two calls are wrapped, for this engine.
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self._give_back(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self._give_back(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    def wait_turn(self, dbapi_connection: Any) -> None:
        """Before a ``BEGIN IMMEDIATE`` on this connection."""
        turn = self._turns.get(id(dbapi_connection))
        if turn is not None:
            turn.take(patience_s=self._patience_s)

    def _open(self, dbapi_connection: Any, _record: Any) -> None:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._turns[id(dbapi_connection)] = _Turn(fd)

    def _close(self, dbapi_connection: Any, _record: Any) -> None:
        turn = self._turns.pop(id(dbapi_connection), None)
        if turn is not None:
            turn.close()

    def _close_detached(self, dbapi_connection: Any) -> None:
        self._close(dbapi_connection, None)

    def _checkin(self, dbapi_connection: Any, _record: Any) -> None:
        self._give_back(dbapi_connection)  # belt and braces: given back without COMMIT or ROLLBACK

    def _give_back(self, dbapi_connection: Any) -> None:
        turn = self._turns.get(id(dbapi_connection))
        if turn is not None:
            turn.give_back()
