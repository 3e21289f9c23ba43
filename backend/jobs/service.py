"""The outbox API: `enqueue` (in the caller's transaction), and claiming, finishing and releasing rows
(the relay and the in-process runners). No runner code here: every domain may import this module.

Kinds of work and their queues (one queue each, so a burst of pre-rendering never delays a WeChat notice):

| kind        | queue               | key                  |
|-------------|---------------------|----------------------|
| `prerender` | `yunying.prerender` | a series id          |
| `notify`    | `yunying.notify`    | a notification id    |
| `pdf`       | `yunying.pdf`       | a study id           |
| `sweep`     | `yunying.sweep`     | `derived`            |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session, col, select

from backend.clock import utcnow
from backend.db import dialect_insert, insert_missing, session_scope
from backend.ids import new_id

from .models import JobOutbox

PRERENDER, NOTIFY, PDF, SWEEP = "prerender", "notify", "pdf", "sweep"
KINDS = (PRERENDER, NOTIFY, PDF, SWEEP)
QUEUES = {kind: f"yunying.{kind}" for kind in KINDS}
MAX_ATTEMPTS = 5  # in-process failures of one row before it is dropped (logged by the runner)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    kind: str
    key: str
    generation: int
    attempts: int


def enqueue(session: Session, *, kind: str, key: str, delay: timedelta = timedelta(0)) -> None:
    """Ask for `kind` work on `key` once the caller's transaction commits. Enqueuing a (kind, key) that
    is still waiting moves it to `now + delay` (debounce: a study arriving in many STOW batches is
    pre-rendered once) and bumps its generation (a runner busy with it runs it again afterwards)."""
    enqueue_many(session, kind=kind, keys=[key], delay=delay)


def enqueue_many(session: Session, *, kind: str, keys: Iterable[str], delay: timedelta = timedelta(0)) -> None:
    """:func:`enqueue` of several keys in one statement (ingest's batch: every series of the studies
    that grew)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    unique = list(dict.fromkeys(key[:128] for key in keys))  # one statement may touch a row only once
    if not unique:
        return
    due, now = utcnow() + delay, utcnow()
    session.connection().execute(_upsert(session.get_bind().dialect.name), [
        {"id": new_id(), "kind": kind, "key": key, "generation": 1, "due_at": due, "claimed_until": None,
         "attempts": 0, "created_at": now} for key in unique])


_UPSERTS: dict[str, Executable] = {}


def _upsert(dialect: str) -> Executable:
    """INSERT … ON CONFLICT (kind, key) DO UPDATE (both dialects know it), built once per dialect and on
    the table: building the statement, and the ORM's path for a statement on the class, cost more than
    running it (0.8 → 0.3 CPU-ms for one row on SQLite)."""
    statement = _UPSERTS.get(dialect)
    if statement is None:
        table = JobOutbox.__table__  # type: ignore[attr-defined]
        insert = dialect_insert(dialect, table)
        statement = _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={"generation": table.c.generation + 1, "due_at": insert.excluded.due_at, "attempts": 0})
    return statement


def enqueue_absent(session: Session, *, kind: str, key: str, delay: timedelta = timedelta(0)) -> bool:
    """Like `enqueue`, but leaves a waiting row as it is (periodic work: the first node to ask wins)."""
    return insert_missing(session, JobOutbox, keys=["kind", "key"], values={
        "id": new_id(), "kind": kind, "key": key[:128], "generation": 1, "due_at": utcnow() + delay,
        "claimed_until": None, "attempts": 0, "created_at": utcnow()})


def claim(engine: Engine, *, kinds: tuple[str, ...] = KINDS, lease: timedelta, limit: int = 20,
          now: datetime | None = None) -> list[Claimed]:
    """Due, unclaimed rows of these kinds, each claimed with a compare-and-set on its generation, so that
    several processes (web nodes, workers) share the outbox without handing a row over twice at once."""
    now = now or utcnow()
    free = or_(col(JobOutbox.claimed_until).is_(None), col(JobOutbox.claimed_until) < now)
    with session_scope(engine, readonly=True) as session:  # the common case: nothing due, no write lock
        rows = session.exec(select(JobOutbox).where(col(JobOutbox.kind).in_(kinds), col(JobOutbox.due_at) <= now,
                                                    free).order_by(col(JobOutbox.due_at)).limit(limit)).all()
    if not rows:
        return []
    won: list[Claimed] = []
    with session_scope(engine) as session:
        for row in rows:
            result = session.execute(
                update(JobOutbox).where(col(JobOutbox.id) == row.id, col(JobOutbox.generation) == row.generation,
                                        free).values(claimed_until=now + lease))
            if getattr(result, "rowcount", 0) == 1:
                won.append(Claimed(id=row.id, kind=row.kind, key=row.key, generation=row.generation,
                                   attempts=row.attempts))
    return won


def finish(engine: Engine, job: Claimed) -> bool:
    """The job was handed over (published, or run in-process): delete its row unless it was enqueued
    again meanwhile (then it stays, unclaimed, to be handed over once more). True when deleted."""
    with session_scope(engine) as session:
        gone = session.execute(delete(JobOutbox).where(col(JobOutbox.id) == job.id,
                                                       col(JobOutbox.generation) == job.generation))
        if getattr(gone, "rowcount", 0) == 1:
            return True
        session.execute(update(JobOutbox).where(col(JobOutbox.id) == job.id).values(claimed_until=None))
    return False


def release(engine: Engine, job: Claimed, *, retry_in: timedelta, failed: bool) -> None:
    """Hand the row back for a later try. `failed` (the job itself failed, in-process) counts an attempt
    and drops the row after MAX_ATTEMPTS; a broker outage never does: the job waits for the broker."""
    with session_scope(engine) as session:
        if failed and job.attempts + 1 >= MAX_ATTEMPTS:
            session.execute(delete(JobOutbox).where(col(JobOutbox.id) == job.id,
                                                    col(JobOutbox.generation) == job.generation))
            session.execute(update(JobOutbox).where(col(JobOutbox.id) == job.id).values(claimed_until=None))
            return
        session.execute(update(JobOutbox).where(col(JobOutbox.id) == job.id).values(
            claimed_until=None, due_at=utcnow() + retry_in,
            attempts=JobOutbox.attempts + (1 if failed else 0)))


def waiting(session: Session, *, kind: str | None = None) -> list[JobOutbox]:
    """Rows not yet handed over (tests, `yunying worker` status)."""
    query = select(JobOutbox).order_by(col(JobOutbox.due_at))
    if kind is not None:
        query = query.where(col(JobOutbox.kind) == kind)
    return list(session.exec(query).all())
