"""Group commit of audit events for reads on PostgreSQL (issue 18: the request path's fixed cost).

Every read of health data writes an audit event, and the chain (audit.py) serializes its writers: each
read used to take the chain's advisory lock, read the head, insert its row, update the head and commit
with a WAL flush — on every node, one read at a time for the whole deployment. Here a read's transaction
writes nothing; its events go to one writer thread per process, which writes whatever events are waiting
in one transaction (one lock, one head update, one flush for many reads) while the next ones gather.

The rule holds: the request waits until the batch holding its events is committed, so no response with
health data leaves before the audit of that read is durable; a failed batch fails every request in it
(the database errors become 503s, api/problems.py). Only pure reads are deferred — a transaction that
wrote anything keeps writing its events itself, in the same commit as the work (audit.py).
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.errors import ServiceUnavailable

WAIT_S = 30.0  # a batch stuck longer than this (a database gone) fails its requests
IDLE_S = 5.0  # a writer thread with nothing to do for this long ends; the next read starts another
MAX_BATCH = 500
WRITER = "yunying_audit_writer"  # session.info flag: this session is the writer's own


@dataclass
class _Waiter:
    events: list[Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupWriter:
    def __init__(self, engine: Engine, write: Callable[[Session, list[Any]], None]) -> None:
        self.engine, self.write = engine, write
        self.queue: queue.SimpleQueue[_Waiter] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def submit(self, events: list[Any]) -> None:
        """Returns once ``events`` are committed; raises what the batch failed with."""
        waiter = _Waiter(events)
        with self.lock:  # the same lock the thread holds when it decides to end: no event is left behind
            self.queue.put(waiter)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="yunying-audit-writer", daemon=True)
                self.thread.start()
        if not waiter.done.wait(WAIT_S):
            raise ServiceUnavailable("The audit log is not being written; retry shortly.",
                                     zh="审计日志暂时无法写入，请稍后再试", code="audit-unavailable")
        if waiter.error is not None:
            raise waiter.error

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_S)
            except queue.Empty:
                with self.lock:
                    if self.queue.empty():
                        self.thread = None
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    session.info[WRITER] = True
                    self.write(session, [event for waiter in batch for event in waiter.events])
                    session.commit()
            except BaseException as exc:  # noqa: BLE001 - handed to every request of the batch
                for waiter in batch:
                    waiter.error = exc
            finally:
                for waiter in batch:
                    waiter.done.set()


_writers: weakref.WeakKeyDictionary[Engine, GroupWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(engine: Engine, write: Callable[[Session, list[Any]], None]) -> GroupWriter:
    with _writers_lock:
        found = _writers.get(engine)
        if found is None:
            found = _writers[engine] = GroupWriter(engine, write)
        return found
