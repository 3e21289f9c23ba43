"""Session cookies, the CSRF double-submit check, and the account principal resolver.

Cookies: ``yy_session`` (access JWT, HttpOnly, path /), ``yy_refresh`` (opaque refresh token, HttpOnly,
path /auth), ``yy_csrf`` (readable by the PWA's JavaScript). SameSite=Lax; Secure unless the service
runs in development/test. An unsafe method carrying a session cookie needs ``X-CSRF-Token`` equal to
``yy_csrf`` (CONTRACT.md, OWASP CSRF cheat sheet "double submit cookie"), else 403.
"""

from __future__ import annotations

from fastapi import Request, Response
from sqlmodel import Session

from backend.access.principals import AccountPrincipal
from backend.auth import sessions
from backend.config import Settings
from backend.crypto import constant_time_equal
from backend.errors import Forbidden

SESSION_COOKIE = "yy_session"
REFRESH_COOKIE = "yy_refresh"
CSRF_COOKIE = "yy_csrf"
CSRF_HEADER = "X-CSRF-Token"
STATE_COOKIE = "yy_oauth"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def secure_cookies(settings: Settings) -> bool:
    return settings.env == "production" or settings.public_url.startswith("https://")


def set_session_cookies(response: Response, settings: Settings, tokens: sessions.IssuedTokens) -> None:
    secure = secure_cookies(settings)
    session_seconds = int(sessions.SESSION_TTL.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, tokens.access_token, max_age=session_seconds, path="/", httponly=True, secure=secure,
        samesite="lax",
    )
    response.set_cookie(
        REFRESH_COOKIE, tokens.refresh_token, max_age=session_seconds, path="/auth", httponly=True, secure=secure,
        samesite="lax",
    )
    response.set_cookie(
        CSRF_COOKIE, tokens.csrf_token, max_age=session_seconds, path="/", httponly=False, secure=secure,
        samesite="lax",
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    secure = secure_cookies(settings)
    for name, path in ((SESSION_COOKIE, "/"), (REFRESH_COOKIE, "/auth"), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path, secure=secure, httponly=name != CSRF_COOKIE, samesite="lax")


def check_csrf(request: Request) -> None:
    """Raise 403 when an unsafe request's X-CSRF-Token does not equal the yy_csrf cookie."""
    if request.method.upper() not in UNSAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    header = request.headers.get(CSRF_HEADER) or ""
    if not cookie or not header or not constant_time_equal(cookie, header):
        raise Forbidden(
            "Missing or wrong X-CSRF-Token header.", zh="缺少或错误的 CSRF 令牌", code="csrf-failed"
        )


def resolve_account(request: Request, session: Session) -> AccountPrincipal | None:
    """Principal resolver: a valid, unrevoked session cookie → AccountPrincipal."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    check_csrf(request)
    settings: Settings = request.app.state.settings
    return sessions.resolve_access(session, settings=settings, token=token)
