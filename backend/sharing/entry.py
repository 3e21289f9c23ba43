"""The doctor's side: a token (and its access code) becomes a share session.

Each step is its own short transaction (a request never holds the database's write lock while it
waits for another: the shared-state counters open their own on the database fallback).

- Brute force: 5 wrong codes lock one share for 15 minutes — each attempt is reserved atomically
  before its code is verified, so 100 simultaneous guesses still check at most 5; 20 failures (wrong
  codes, unknown tokens) from one address within 15 minutes block that address for 15 minutes across
  every share. Both are counted in the database (pages.py hands the entry the database's shared state
  even when Redis is configured), so every worker sees them and a Redis outage neither refuses a
  doctor nor resets a count (issue 18).
- Opens: ``UPDATE share SET opens = opens + 1 WHERE … AND (max_opens IS NULL OR opens < max_opens)``
  — the database decides; of 50 simultaneous opens of a ``max_opens=1`` share exactly one matches.
- A resend is not a second try: the front proxy sends a POST again to another node when the node it
  went to died before answering (deploy/nginx/yunying.conf), with the same request id (proxies.py).
  The first try may have counted the attempt, the wrong code, or the open before it died; the resend
  counts none of them again. Its open finds the first try's session (its id is derived from the
  request id) and gives it a new secret — the first secret never reached the doctor — so a
  ``max_opens=1`` share is not used up by the proxy's resend. One reservation may stay counted (the
  first try died between reserving and giving back a right code's attempt): one of five, for at most
  the 15 minutes of the window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import Anonymous, SharePrincipal
from backend.access.service import accounts_for_person, share_status
from backend.clock import aware, utcnow
from backend.crypto import lookup_digest, random_token, verify_secret
from backend.db import session_scope
from backend.errors import Forbidden, Gone, TooManyRequests
from backend.ids import new_id
from backend.notify.service import notify_once
from backend.shared_state import SharedState
from backend.sharing import rules
from backend.sharing.models import Share, ShareSession

CODE_FAILURES = 5
RESEND_WITHIN = timedelta(minutes=5)  # a proxy's resend follows its first try within seconds
CODE_LOCK = timedelta(minutes=15)
ADDRESS_FAILURES = 20
ADDRESS_BLOCK = timedelta(minutes=15)

GONE_TEXT = {
    rules.EXPIRED: ("此链接已过期", "This link has expired."),
    rules.REVOKED: ("此链接已被撤回", "This link was withdrawn."),
    rules.USED_UP: ("此链接的打开次数已用完", "This link has been opened as often as allowed."),
}


@dataclass(frozen=True, slots=True)
class ShareState:
    share_id: str
    person_id: str
    status: str
    needs_code: bool


@dataclass(frozen=True, slots=True)
class Opened:
    share_id: str
    session_id: str
    secret: str
    expires_at: datetime


def gone(status: str) -> Gone:
    zh, en = GONE_TEXT[status]
    return Gone(en, code=f"share-{status.replace('_', '-')}", zh=zh)


def _address_key(address: str | None) -> str:
    return f"share-addr:{address or '-'}"


def check_address(state: SharedState, *, address: str | None) -> None:
    if state.get("block:" + _address_key(address)) is not None:
        raise _too_many("Too many failed attempts from this address; try again later.", "share-address-blocked",
                        "尝试次数过多，请稍后再试。", ADDRESS_BLOCK)


def count_failure(state: SharedState, *, address: str | None) -> None:
    key = _address_key(address)
    if not state.hit(key, window=ADDRESS_BLOCK, limit=ADDRESS_FAILURES - 1):
        state.put("block:" + key, "1", expires_at=utcnow() + ADDRESS_BLOCK)


def _too_many(detail: str, code: str, zh: str, wait: timedelta) -> TooManyRequests:
    error = TooManyRequests(detail, code=code, zh=zh)
    error.headers = {"Retry-After": str(int(wait.total_seconds()))}
    return error


def lookup(*, engine: Engine, token: str) -> ShareState | None:
    with session_scope(engine, readonly=True) as session:
        share = rules.find_by_token(session, token=token)
        if share is None:
            return None
        return ShareState(share_id=share.id, person_id=share.person_id, status=share_status(session, share),
                          needs_code=share.code_hash is not None)


def _locked() -> TooManyRequests:
    return _too_many("Too many wrong codes: this link is locked for 15 minutes.", "share-locked",
                     "访问码错误次数过多，此链接已锁定 15 分钟。", CODE_LOCK)


def check_code(*, engine: Engine, state: SharedState, share_id: str, code: str | None, address: str | None,
               request_id: str | None = None) -> None:
    """Raise unless ``code`` is the share's access code (or it has none). Locked shares refuse even
    the right code until the lock ends.

    Every attempt is reserved in the shared state *before* the code is verified (an atomic count:
    the database under a lock — see shared_state.hit), so however many attempts arrive
    at once, at most CODE_FAILURES codes are verified per lock window. A right code gives its
    reservation back; a wrong one keeps it. A resend of a request (the same ``request_id``: the module
    docstring) verifies the code again but reserves and counts nothing a second time."""
    lock = f"share-lock:{share_id}"
    if state.get(lock) is not None:
        raise _locked()
    with session_scope(engine, readonly=True) as session:
        share = session.get(Share, share_id)
        code_hash = share.code_hash if share else None
        person_id = share.person_id if share else None
    if code_hash is None:
        return
    attempts = f"share-code:{share_id}"
    first = request_id is None or state.claim_once(f"share-try:{share_id}:{request_id}", ttl=CODE_LOCK)
    if first and not state.hit(attempts, window=CODE_LOCK, limit=CODE_FAILURES):
        if state.get(lock) is None:
            state.put(lock, "1", expires_at=utcnow() + CODE_LOCK)
        raise _locked()
    if code and code.isdigit() and len(code) == 6 and verify_secret(code, code_hash):
        if first:
            state.unhit(attempts)
        return
    if not first:  # the first try counted this wrong code (and audited it) before its node died
        raise Forbidden("Wrong access code.", code="share-code-wrong", zh="访问码错误。")
    count_failure(state, address=address)
    with session_scope(engine) as session:
        audit.record(session, principal=Anonymous(), action=audit.EXECUTE, event_type="share.code_failed",
                     person_id=person_id, via_share_id=share_id, object_type="share",
                     object_id=share_id, outcome=audit.MINOR_FAILURE)
    raise Forbidden("Wrong access code.", code="share-code-wrong", zh="访问码错误。")


def _session_id(share_id: str, request_id: str) -> str:
    """The session a request opens, the same for its resend: 32 hex digits like new_id()."""
    return hashlib.sha256(f"share-open:{share_id}:{request_id}".encode()).hexdigest()[:32]


def opened_by(*, engine: Engine, share_id: str, request_id: str | None) -> bool:
    """Whether this request (its first try, on a node that died before answering) opened the share:
    then its resend may finish the open of a share that the first try used up."""
    if not request_id:
        return False
    with session_scope(engine, readonly=True) as session:
        earlier = session.get(ShareSession, _session_id(share_id, request_id))
        return earlier is not None and aware(earlier.created_at) > utcnow() - RESEND_WITHIN


def open_share(*, engine: Engine, share_id: str, user_agent: str | None, request_id: str | None = None) -> Opened:
    """Count one open, atomically, and start a share session. Raises Gone (410) when the share is
    expired, revoked or used up — decided by the conditional UPDATE, not by an earlier read. A resend
    (the same ``request_id``) whose first try's session committed gets that session with a new secret,
    and counts no second open."""
    now = utcnow()
    secret = random_token(rules.SESSION_PREFIX, nbytes=32)
    with session_scope(engine) as session:
        # The share's row lock first: a first try still committing on a dying node's connection is
        # waited for, so its session is seen below (READ COMMITTED reads what committed before each statement).
        current = session.get(Share, share_id, with_for_update=True)
        if current is None or share_status(session, current) == rules.REVOKED:  # its creator may not share now
            raise gone(rules.REVOKED)
        session_id = _session_id(share_id, request_id) if request_id else None
        earlier = session.get(ShareSession, session_id) if session_id else None
        if earlier is not None and earlier.share_id == share_id and aware(earlier.created_at) > now - RESEND_WITHIN:
            earlier.secret_digest = lookup_digest(secret)  # the first secret died with its node, unseen
            session.add(earlier)
            return Opened(share_id=share_id, session_id=earlier.id, secret=secret,
                          expires_at=aware(earlier.expires_at))
        counted = session.execute(
            update(Share)
            .where(col(Share.id) == share_id, col(Share.revoked_at).is_(None), col(Share.expires_at) > now,
                   or_(col(Share.max_opens).is_(None), col(Share.opens) < col(Share.max_opens)))
            .values(opens=col(Share.opens) + 1, updated_at=now)
        )
        if counted.rowcount != 1:  # type: ignore[attr-defined]
            share = session.get(Share, share_id)
            raise gone(rules.status(share) if share else rules.REVOKED)
        share = session.exec(select(Share).where(Share.id == share_id)).one()
        first = share.first_opened_at is None
        if first:
            share.first_opened_at = now
            session.add(share)
        expires_at = min(now + rules.SESSION_TTL, aware(share.expires_at))
        row = ShareSession(id=session_id or new_id(), share_id=share_id, secret_digest=lookup_digest(secret),
                           user_agent=(user_agent or None) and user_agent[:256], expires_at=expires_at)
        session.add(row)
        session.flush()
        principal = SharePrincipal(share_id=share_id, session_id=row.id)
        audit.record(session, principal=principal, action=audit.EXECUTE, event_type="share.open",
                     person_id=share.person_id, via_share_id=share_id, object_type="share", object_id=share_id,
                     detail={"open": share.opens})
        if first:
            _notify_first_open(session, share)
        return Opened(share_id=share_id, session_id=row.id, secret=secret, expires_at=expires_at)


def _notify_first_open(session: Session, share: Share) -> None:
    """The patient (and whoever made the share) hears of its first open — once per share (outbox row
    keyed by the share; the unique key makes a concurrent second insert a no-op)."""
    recipients = {account for account, _ in accounts_for_person(session=session, person_id=share.person_id)}
    recipients.add(share.created_by_account_id)
    for account_id in sorted(recipients):
        notify_once(session, event_key=f"share-open:{share.id}", account_id=account_id, person_id=share.person_id,
                    kind="share_opened")
