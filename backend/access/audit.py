"""Append-only, hash-chained audit log.

Events are collected on the session while a request works and written in ``before_commit``, so an
event exists exactly when the work it describes was committed, and the chain lock is held only for
the last moment of a transaction. Each row's hash is SHA-256 over the previous row's hash and a
canonical JSON serialization of the row (sorted keys, no whitespace, UTC timestamps with
microseconds). ``seq`` runs without gaps and ``audit_head`` remembers the tip, so a changed, removed or
truncated row is detected by :func:`verify_chain`.

Writers are serialized: SQLite transactions already start with BEGIN IMMEDIATE (db.py); PostgreSQL
takes a transaction-scoped advisory lock. On PostgreSQL, when that lock is busy, the events of a
transaction that only read are written by a group writer after it commits, many reads to one chain
write, and the request waits for that write (audit_group.py); otherwise — the lock free, or the
transaction wrote anything — a transaction writes its own events in its own commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlmodel import Session, select

from backend.access import audit_group
from backend.access.context import current_request
from backend.access.models import AuditEvent, AuditHead
from backend.access.principals import Principal
from backend.clock import utcnow
from backend.db import AFTER_RELEASE, SCOPED
from backend.ids import new_id

GENESIS = "0" * 64
_PENDING = "yunying_audit_pending"
_DEFERRED = "yunying_audit_deferred"
_LOCKED = "yunying_audit_chain_locked"
_AFTER_WORK = "yunying_audit_after_work"
GROUP_COMMIT = True  # PostgreSQL: reads' events through audit_group (YUNYING_AUDIT_GROUP_COMMIT, set by create_app)
_PG_LOCK_KEY = 0x59554E59  # "YUNY": the audit chain's advisory lock id

# EventActionCode, PS3.15 A.5.3 / RFC 3881 §5.1.1
CREATE, READ, UPDATE, DELETE, EXECUTE = "C", "R", "U", "D", "E"
# EventOutcomeIndicator
SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE, MAJOR_FAILURE = 0, 4, 8, 12


@dataclass(frozen=True, slots=True)
class PendingEvent:
    action: str
    event_type: str
    actor_kind: str
    actor_id: str
    outcome: int = SUCCESS
    person_id: str | None = None
    via_grant_id: str | None = None
    via_share_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    detail: dict[str, Any] | None = None
    network_address: str | None = None
    user_agent: str | None = None
    at: datetime = field(default_factory=utcnow)


def record(
    session: Session,
    *,
    principal: Principal,
    action: str,
    event_type: str,
    person_id: str | None = None,
    via_grant_id: str | None = None,
    via_share_id: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    outcome: int = SUCCESS,
    detail: dict[str, Any] | None = None,
) -> None:
    """Queue an audit event; it is written if and when the session commits."""
    meta = current_request()
    pending: list[PendingEvent] = session.info.setdefault(_PENDING, [])
    pending.append(
        PendingEvent(
            action=action,
            event_type=event_type,
            actor_kind=principal.kind,
            actor_id=principal.actor_id,
            outcome=outcome,
            person_id=person_id,
            via_grant_id=via_grant_id,
            via_share_id=via_share_id,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
            network_address=meta.network_address,
            user_agent=(meta.user_agent or None) and meta.user_agent[:256],
        )
    )


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: AuditEvent) -> bytes:
    data = {
        "seq": row.seq,
        "event_id": row.event_id,
        "at": _timestamp(row.at),
        "action": row.action,
        "event_type": row.event_type,
        "outcome": row.outcome,
        "actor_kind": row.actor_kind,
        "actor_id": row.actor_id,
        "person_id": row.person_id,
        "via_grant_id": row.via_grant_id,
        "via_share_id": row.via_share_id,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "network_address": row.network_address,
        "user_agent": row.user_agent,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(row: AuditEvent) -> str:
    return hashlib.sha256(row.prev_hash.encode() + canonical(row)).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.info.get(_LOCKED):  # taken already by this transaction (_may_defer)
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def _write_pending(session: Session) -> None:
    _write_events(session, session.info.pop(_PENDING, []))


def _write_events(session: Session, pending: list[PendingEvent]) -> None:
    if not pending:
        return
    _lock_chain(session)
    head = session.get(AuditHead, 1, populate_existing=True)
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
    seq, prev = head.seq, head.hash
    for item in pending:
        seq += 1
        row = AuditEvent(
            seq=seq,
            event_id=new_id(),
            at=item.at.astimezone(UTC),
            action=item.action,
            event_type=item.event_type,
            outcome=item.outcome,
            actor_kind=item.actor_kind,
            actor_id=item.actor_id,
            person_id=item.person_id,
            via_grant_id=item.via_grant_id,
            via_share_id=item.via_share_id,
            object_type=item.object_type,
            object_id=item.object_id,
            network_address=item.network_address,
            user_agent=item.user_agent,
            detail=json.dumps(item.detail, sort_keys=True, ensure_ascii=False) if item.detail else None,
            prev_hash=prev,
            hash="",
        )
        row.hash = chain_hash(row)
        prev = row.hash
        session.add(row)
    head.seq, head.hash = seq, prev
    session.add(head)


def events_after_work(session: Session) -> None:
    """This transaction's session-start events (EXECUTE) may be written just after its work commits, by
    the group writer, when the chain is busy; the caller's ``session_scope`` returns only once they are
    durable, and fails if they are not. For a login (issue 18: 200 people opening the app at once):
    each one queued for the chain's lock with its session row written, one after another. Safe there
    because what the login wrote is of no use before its answer, which carries the session's tokens
    and is not sent if the event fails. Anything created for the record (an account's CREATE event)
    keeps being written in the same commit as its work."""
    session.info[_AFTER_WORK] = True


def _may_defer(session: Session) -> bool:
    """Whether this transaction's events may go to the group writer: PostgreSQL, every event a read, no
    pending ORM change — and the chain is busy. When its lock is free the events are written here at
    once (a lone reader pays nothing for the hand-off); when another transaction holds it, a read that
    wrote nothing (no transaction id assigned) joins the next group write instead of queueing for it.
    A transaction marked with `events_after_work` may have written, if its events are reads or
    EXECUTE."""
    if not GROUP_COMMIT or session.info.get(audit_group.WRITER):
        return False
    if session.get_bind().dialect.name != "postgresql":
        return False
    after_work = bool(session.info.get(_AFTER_WORK))
    if any(item.action not in ((READ, EXECUTE) if after_work else (READ,)) for item in session.info[_PENDING]):
        return False
    if session.new or session.dirty or session.deleted:  # flushed work only: the commit's flush comes later
        return False
    if session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar():
        session.info[_LOCKED] = True
        return False
    return after_work or session.execute(text("SELECT txid_current_if_assigned()")).scalar() is None


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        if _may_defer(session):
            session.info[_DEFERRED] = session.info.pop(_PENDING)
        else:
            _write_pending(session)
    session.info.pop(_LOCKED, None)
    session.info.pop(_AFTER_WORK, None)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    deferred: list[PendingEvent] = session.info.pop(_DEFERRED, [])
    if not deferred:
        return
    # The read committed; its answer waits for its audit events to be durable — once its connection is
    # back in the pool (db.session_scope), else here.
    writer = audit_group.writer_for(session.get_bind().engine, _write_events)
    if session.info.get(SCOPED):
        session.info.setdefault(AFTER_RELEASE, []).append(lambda: writer.submit(deferred))
    else:
        writer.submit(deferred)


def discard_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_DEFERRED, None)
    session.info.pop(_LOCKED, None)
    session.info.pop(_AFTER_WORK, None)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    discard_pending(session)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    problem: str | None = None
    seq: int | None = None


def _rows(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.exec(select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)).all()  # type: ignore[arg-type]
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain; report the first row that was changed, removed or inserted."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in _rows(session):
        if row.seq != expected_seq:
            return ChainReport(False, count, f"row {expected_seq} is missing", expected_seq)
        if row.prev_hash != prev:
            return ChainReport(False, count, f"row {row.seq} does not link to row {row.seq - 1}", row.seq)
        if chain_hash(row) != row.hash:
            return ChainReport(False, count, f"row {row.seq} was changed after it was written", row.seq)
        prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev:
        return ChainReport(False, count, f"the chain ends at row {count} but its head says row {head_seq}", count)
    return ChainReport(True, count)
