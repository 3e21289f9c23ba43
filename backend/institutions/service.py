"""Institutions and API keys: create, rotate, revoke, authenticate.

Keys are ``yyk_`` + 192 random bits, shown once. The database keeps a SHA-256 lookup digest (to find
the row without scanning) and an argon2 hash (so a leaked table does not yield usable keys even for
someone who can compute SHA-256 quickly — the digest alone is not accepted). Verified keys are
remembered in-process for a short time so that a 300-instance upload does not pay argon2 300 times.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlmodel import Session, select

from backend.access import audit
from backend.access.principals import InstitutionPrincipal, OperatorPrincipal, Principal
from backend.clock import utcnow
from backend.crypto import hash_secret, lookup_digest, random_token, verify_secret
from backend.errors import Conflict, NotFound, Unauthorized
from backend.institutions.models import ApiKey, Institution

KEY_PREFIX = "yyk"
_VERIFIED_TTL = 60.0
_verified: dict[str, tuple[float, str, str]] = {}  # lookup digest -> (expires, institution id, key id)
_verified_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    institution_id: str
    key_id: str
    api_key: str  # the only time the clear key exists


def _issue_key(session: Session, institution_id: str) -> IssuedKey:
    token = random_token(KEY_PREFIX)
    row = ApiKey(
        institution_id=institution_id,
        lookup=lookup_digest(token),
        secret_hash=hash_secret(token),
        prefix=token[:10],
    )
    session.add(row)
    session.flush()
    return IssuedKey(institution_id=institution_id, key_id=row.id, api_key=token)


def create_institution(*, session: Session, name: str, principal: Principal | None = None) -> IssuedKey:
    name = name.strip()
    if not name:
        raise Conflict("An institution needs a name.", code="institution-name")
    if session.exec(select(Institution).where(Institution.name == name)).first():
        raise Conflict(f"An institution named {name!r} exists already.", code="institution-exists")
    institution = Institution(name=name)
    session.add(institution)
    session.flush()
    issued = _issue_key(session, institution.id)
    audit.record(
        session,
        principal=principal or OperatorPrincipal(),
        action=audit.CREATE,
        event_type="institution.create",
        object_type="institution",
        object_id=institution.id,
    )
    return issued


def find_institution(*, session: Session, ref: str) -> Institution:
    row = session.get(Institution, ref) or session.exec(select(Institution).where(Institution.name == ref)).first()
    if row is None:
        raise NotFound(f"No institution {ref!r}.", code="institution-not-found")
    return row


def rotate_key(*, session: Session, institution_id: str, revoke_old: bool = False) -> IssuedKey:
    """Issue a new key; old keys keep working unless ``revoke_old`` (so a PACS can switch over)."""
    if revoke_old:
        for key in session.exec(select(ApiKey).where(ApiKey.institution_id == institution_id)).all():
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                session.add(key)
        forget_verified()
    issued = _issue_key(session, institution_id)
    audit.record(
        session,
        principal=OperatorPrincipal(),
        action=audit.UPDATE,
        event_type="institution.key_rotate",
        object_type="api_key",
        object_id=issued.key_id,
    )
    return issued


def revoke_key(*, session: Session, key_id: str) -> None:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("No such key.", code="api-key-not-found")
    key.revoked_at = key.revoked_at or utcnow()
    session.add(key)
    forget_verified()
    audit.record(
        session,
        principal=OperatorPrincipal(),
        action=audit.DELETE,
        event_type="institution.key_revoke",
        object_type="api_key",
        object_id=key_id,
    )


def forget_verified() -> None:
    with _verified_lock:
        _verified.clear()


def authenticate(*, session: Session, api_key: str) -> InstitutionPrincipal:
    """The institution behind a presented key, or Unauthorized (same answer for every failure)."""
    if not api_key.startswith(KEY_PREFIX + "_") or len(api_key) > 128:
        raise Unauthorized("Invalid API key.", zh="API 密钥无效", code="invalid-api-key")
    digest = lookup_digest(api_key)
    now = time.monotonic()
    with _verified_lock:
        hit = _verified.get(digest)
    key = session.exec(select(ApiKey).where(ApiKey.lookup == digest)).first()
    if key is None or key.revoked_at is not None:
        raise Unauthorized("Invalid API key.", zh="API 密钥无效", code="invalid-api-key")
    institution = session.get(Institution, key.institution_id)
    if institution is None or institution.disabled_at is not None:
        raise Unauthorized("Invalid API key.", zh="API 密钥无效", code="invalid-api-key")
    if not (hit and hit[0] > now and hit[2] == key.id) and not verify_secret(api_key, key.secret_hash):
        raise Unauthorized("Invalid API key.", zh="API 密钥无效", code="invalid-api-key")
    with _verified_lock:
        _verified[digest] = (now + _VERIFIED_TTL, key.institution_id, key.id)
    return InstitutionPrincipal(institution_id=key.institution_id, key_id=key.id)
