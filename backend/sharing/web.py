"""The share-session cookie and its principal resolver.

``yy_share`` is HttpOnly, SameSite=Lax, path ``/``, and lives at most as long as the session row
(``rules.SESSION_TTL``, capped by the share's expiry). A browser that also holds a patient's login
(a doctor who uses Yunying himself) stays that patient everywhere except where the share applies:
the shared person's patient routes, ``/api/v1/share/…`` and DICOMweb.
"""

from __future__ import annotations

import re

from fastapi import Request, Response
from sqlmodel import Session

from backend.access.principals import SharePrincipal
from backend.auth.web import UNSAFE_METHODS, secure_cookies
from backend.clock import utcnow
from backend.config import Settings
from backend.sharing import rules
from backend.sharing.entry import Opened

SHARE_COOKIE = "yy_share"
DOCTOR_HOME = "/doctor"  # the PWA's doctor mode (built by the PWA); where an opened share lands
_PERSON_PATH = re.compile(r"^/api/v1/people/([^/]+)/")
_SHARE_PATHS = ("/api/v1/share/", "/dicomweb/")


def set_share_cookie(response: Response, settings: Settings, opened: Opened) -> None:
    seconds = max(1, int((opened.expires_at - utcnow()).total_seconds()))
    response.set_cookie(SHARE_COOKIE, opened.secret, max_age=seconds, path="/", httponly=True,
                        secure=secure_cookies(settings), samesite="lax")


def resolve_share(request: Request, session: Session) -> SharePrincipal | None:
    """Principal resolver: a live share session → SharePrincipal, on the paths a share serves.
    Share sessions only read: on an unsafe method the cookie is ignored (a doctor gets 401/404 like
    anyone without a login; a patient testing their own link in the same browser stays themselves)."""
    secret = request.cookies.get(SHARE_COOKIE)
    if not secret or request.method.upper() in UNSAFE_METHODS:
        return None
    path = request.url.path
    person = _PERSON_PATH.match(path)
    if person is None and not path.startswith(_SHARE_PATHS):
        return None
    found = rules.live_session(session, secret=secret)
    if found is None:
        return None
    row, share = found
    if person is not None and person.group(1) != share.person_id:
        return None
    return SharePrincipal(share_id=share.id, session_id=row.id)


def current_share(request: Request, session: Session) -> SharePrincipal | None:
    """The share session of this browser wherever it is asked (``GET /s/{token}`` checks whether the
    doctor is already in)."""
    secret = request.cookies.get(SHARE_COOKIE)
    found = rules.live_session(session, secret=secret) if secret else None
    return SharePrincipal(share_id=found[1].id, session_id=found[0].id) if found else None
