"""What state a share is in, and which live share a share-session cookie stands for.

Read by the access policy on every request of a share session, so revocation and expiry act on the
very next request — an open session has no state of its own beyond its own short expiry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.clock import aware, utcnow
from backend.crypto import lookup_digest
from backend.sharing.models import Share, ShareSession, ShareStudy

ACTIVE, EXPIRED, REVOKED, USED_UP = "active", "expired", "revoked", "used_up"
TOKEN_PREFIX = "yys"  # noqa: S105 — crypto.random_token adds "_": yys_<32 url-safe chars> (192 bits)
SESSION_PREFIX = "yyss"
SESSION_TTL = timedelta(hours=2)  # a doctor's sitting; re-open the link (one more open) after it
SHARED_KIND = "imaging_study"




def status(share: Share, *, now: datetime | None = None) -> str:
    """Revoked wins over expired (the patient's act is what they want to see), expiry over use."""
    now = now or utcnow()
    if share.revoked_at is not None:
        return REVOKED
    if aware(share.expires_at) <= now:
        return EXPIRED
    if share.max_opens is not None and share.opens >= share.max_opens:
        return USED_UP
    return ACTIVE


def well_formed_token(token: str) -> bool:
    body = token.removeprefix(TOKEN_PREFIX + "_")
    return token.startswith(TOKEN_PREFIX + "_") and 20 <= len(body) <= 64 and all(
        c.isalnum() or c in "-_" for c in body)


def find_by_token(session: Session, *, token: str) -> Share | None:
    if not well_formed_token(token):
        return None
    return session.exec(select(Share).where(Share.token_digest == lookup_digest(token))).first()


def live_session(session: Session, *, secret: str) -> tuple[ShareSession, Share] | None:
    """The share session a cookie names, while both it and its share are usable. A share used up by
    later opens keeps serving the sessions already open (only revocation and expiry end them)."""
    if not secret.startswith(SESSION_PREFIX + "_") or len(secret) > 80:
        return None
    row = session.exec(select(ShareSession).where(ShareSession.secret_digest == lookup_digest(secret))).first()
    if row is None or aware(row.expires_at) <= utcnow():
        return None
    share = session.get(Share, row.share_id)
    if share is None or status(share) in (REVOKED, EXPIRED):
        return None
    return row, share


def session_share(session: Session, *, share_id: str, session_id: str) -> Share | None:
    """The share behind a SharePrincipal, re-checked (the policy's view of :func:`live_session`)."""
    row = session.get(ShareSession, session_id)
    if row is None or row.share_id != share_id or aware(row.expires_at) <= utcnow():
        return None
    share = session.get(Share, share_id)
    if share is None or status(share) in (REVOKED, EXPIRED):
        return None
    return share


def study_ids(session: Session, *, share_id: str) -> frozenset[str]:
    return frozenset(session.exec(select(ShareStudy.study_id).where(ShareStudy.share_id == share_id)).all())


def end_shares_created_by(session: Session, *, principal: AccountPrincipal, account_id: str, person_id: str,
                          reason: str) -> list[str]:
    """Withdraw every live share ``account_id`` made of ``person_id``'s records — when its binding is
    withdrawn or its grant ends — and audit each. The policy already refuses such shares on every
    request (access.service.creator_may_share); this makes it final, so a later new binding or grant
    (a new consent) does not bring old links back to life."""
    now = utcnow()
    ids = list(session.exec(select(Share.id).where(Share.created_by_account_id == account_id,
                                                   Share.person_id == person_id, col(Share.revoked_at).is_(None))))
    if ids:
        session.execute(update(Share).where(col(Share.id).in_(ids)).values(revoked_at=now, updated_at=now))
    for share_id in ids:
        audit.record(session, principal=principal, action=audit.UPDATE, event_type="share.revoke",
                     person_id=person_id, object_type="share", object_id=share_id, detail={"reason": reason})
    return ids
