"""Browser sessions: a short-lived access JWT (python-jose) plus an opaque refresh token, both tied to
an ``auth_session`` row that every request checks — so logout and revocation act on the next request,
not at token expiry.

- JWT (RFC 7519) signed HS256 with a key derived from ``secret_key``; the header's ``kid`` (RFC 7515
  §4.1.4) names the key so keys can rotate; decoding pins ``algorithms=["HS256"]`` (never "none",
  never what the token says), checks ``iss``, ``aud`` and ``exp``.
- Refresh tokens are random, stored as SHA-256 digests, rotated on each use; presenting a used one
  again revokes the whole session (reuse detection, OAuth 2.0 Security BCP RFC 9700 §4.14.2).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jose import JWTError, jwt
from sqlalchemy import update
from sqlmodel import Session, col

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.auth.models import AuthSession, RefreshToken
from backend.clock import aware, utcnow
from backend.config import Settings
from backend.crypto import lookup_digest, random_token

ALGORITHM = "HS256"
ACCESS_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(days=30)
AUDIENCE = "yunying-web"
KEY_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    session_id: str
    access_token: str
    refresh_token: str
    csrf_token: str


def signing_keys(settings: Settings) -> dict[str, bytes]:
    """kid → key. The kid is derived from the key, so a rotated ``secret_key`` gets a new kid."""
    key = hmac.new(settings.secret_bytes("secret_key"), f"jwt-{KEY_VERSION}".encode(), hashlib.sha256).digest()
    kid = f"{KEY_VERSION}-{hashlib.sha256(key).hexdigest()[:12]}"
    return {kid: key}


def _current_key(settings: Settings) -> tuple[str, bytes]:
    kid, key = next(iter(signing_keys(settings).items()))
    return kid, key


def encode_access(settings: Settings, *, account_id: str, session_id: str, now: datetime | None = None) -> str:
    now = now or utcnow()
    kid, key = _current_key(settings)
    claims = {
        "iss": settings.public_url,
        "aud": AUDIENCE,
        "sub": account_id,
        "sid": session_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ACCESS_TTL).timestamp()),
    }
    token: str = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
    return token


def decode_access(settings: Settings, token: str) -> dict[str, Any] | None:
    try:
        header = jwt.get_unverified_header(token)
        key = signing_keys(settings).get(str(header.get("kid")))
        if key is None or header.get("alg") != ALGORITHM:
            return None
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=settings.public_url
        )
    except (JWTError, ValueError, TypeError):
        return None
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("sid"), str):
        return None
    return claims




def _issue(session: Session, settings: Settings, row: AuthSession) -> IssuedTokens:
    refresh = random_token("yyr", nbytes=32)
    session.add(RefreshToken(digest=lookup_digest(refresh), session_id=row.id))
    return IssuedTokens(
        session_id=row.id,
        access_token=encode_access(settings, account_id=row.account_id, session_id=row.id),
        refresh_token=refresh,
        csrf_token=random_token("csrf", nbytes=24),
    )


def start_session(session: Session, *, settings: Settings, account_id: str) -> IssuedTokens:
    row = AuthSession(account_id=account_id, expires_at=utcnow() + SESSION_TTL)
    session.add(row)
    session.flush()
    audit.record(
        session, principal=AccountPrincipal(account_id, row.id), action=audit.EXECUTE, event_type="session.start",
        object_type="session", object_id=row.id,
    )
    return _issue(session, settings, row)


def active_session(session: Session, *, session_id: str, account_id: str) -> AuthSession | None:
    row = session.get(AuthSession, session_id)
    if row is None or row.account_id != account_id or row.revoked_at is not None:
        return None
    if aware(row.expires_at) <= utcnow():
        return None
    return row


def resolve_access(session: Session, *, settings: Settings, token: str) -> AccountPrincipal | None:
    claims = decode_access(settings, token)
    if claims is None:
        return None
    row = active_session(session, session_id=claims["sid"], account_id=claims["sub"])
    if row is None:
        return None
    return AccountPrincipal(account_id=row.account_id, session_id=row.id)


def refresh(session: Session, *, settings: Settings, refresh_token: str) -> IssuedTokens | None:
    """Rotate: the presented token becomes used, a new one is issued. None means "log in again";
    a token presented twice also revokes its session (returned, not raised, so the caller commits
    the revocation)."""
    stored = session.get(RefreshToken, lookup_digest(refresh_token)) if refresh_token else None
    row = session.get(AuthSession, stored.session_id) if stored else None
    if stored is None or row is None:
        return None
    claimed = session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.digest) == stored.digest, col(RefreshToken.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        revoke(session, session_id=row.id, reason="refresh-reuse")
        return None
    if active_session(session, session_id=row.id, account_id=row.account_id) is None:
        return None
    row.last_seen_at = utcnow()
    session.add(row)
    return _issue(session, settings, row)


def session_of(session: Session, *, settings: Settings, access_token: str, refresh_token: str) -> str | None:
    """The session a browser's cookies belong to — by the access JWT, or (once that expired) by the
    refresh token — so logout always ends the session."""
    claims = decode_access(settings, access_token) if access_token else None
    if claims is not None:
        return str(claims["sid"])
    stored = session.get(RefreshToken, lookup_digest(refresh_token)) if refresh_token else None
    return stored.session_id if stored else None


def revoke(session: Session, *, session_id: str, reason: str) -> None:
    row = session.get(AuthSession, session_id)
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    row.revoked_reason = reason
    session.add(row)
    audit.record(
        session, principal=AccountPrincipal(row.account_id, row.id), action=audit.EXECUTE,
        event_type="session.revoke", object_type="session", object_id=row.id, detail={"reason": reason},
        outcome=audit.SUCCESS if reason == "logout" else audit.MINOR_FAILURE,
    )
