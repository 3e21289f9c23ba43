"""Every way a WeChat login can go wrong ends on a clear page (or 4xx), never with a session."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from backend.auth.oauth import safe_next
from backend.auth.simulator.models import SimCode
from backend.clock import utcnow
from backend.db import session_scope
from tests.auth.helpers import authorize, start_login

pytestmark = pytest.mark.live


def _no_session(res: httpx.Response) -> None:
    assert not any(c.startswith("yy_session=") for c in res.headers.get_list("set-cookie"))


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_state_and_code_errors(live_server, engine) -> None:  # type: ignore[no-untyped-def]
    url = live_server.url
    with httpx.Client(base_url=url, follow_redirects=False) as browser:
        callback = _path(authorize(browser, start_login(browser), openid="err-user"))
        code = parse_qs(urlsplit(callback).query)["code"][0]
        # Another browser (no state cookie) cannot use this callback.
        with httpx.Client(base_url=url, follow_redirects=False) as other:
            res = other.get(callback)
            assert res.status_code == 400 and 'data-problem="state-missing"' in res.text
            _no_session(res)
        # Mismatched state.
        res = browser.get(f"/auth/wechat/callback?code={code}&state=AAAA")
        assert res.status_code == 400 and "state-mismatch" in res.text
        _no_session(res)
        # Missing code.
        state = parse_qs(urlsplit(callback).query)["state"][0]
        res = browser.get(f"/auth/wechat/callback?state={state}")
        assert res.status_code == 400 and "code-missing" in res.text
        # An invalid code: WeChat's 40029.
        res = browser.get(f"/auth/wechat/callback?state={state}&code=not-a-real-code")
        assert res.status_code == 400 and "code-invalid" in res.text and "微信授权无效" in res.text
        _no_session(res)

    with httpx.Client(base_url=url, follow_redirects=False) as browser:
        callback = _path(authorize(browser, start_login(browser), openid="err-user"))
        code = parse_qs(urlsplit(callback).query)["code"][0]
        with session_scope(engine) as session:  # the code was issued 6 minutes ago
            earlier = utcnow() - timedelta(minutes=6)
            session.execute(update(SimCode).where(SimCode.code == code).values(created_at=earlier))
        res = browser.get(callback)
        assert res.status_code == 400 and "code-expired" in res.text
        _no_session(res)
        # The same (spent) callback again, not logged in: "already used".
        res = browser.get(callback)
        assert res.status_code == 400 and "code-used" in res.text


def test_code_used_at_wechat(live_server) -> None:  # type: ignore[no-untyped-def]
    """A code somebody else already exchanged at WeChat: 40163 → the "used" page."""
    with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
        callback = _path(authorize(browser, start_login(browser), openid="err-user-2"))
        code = parse_qs(urlsplit(callback).query)["code"][0]
        direct = httpx.get(f"{live_server.url}/_sim/wechat/sns/oauth2/access_token", params={
            "appid": "wx-yunying-dev", "secret": "dev-secret-not-for-production", "code": code,
            "grant_type": "authorization_code"})
        assert "access_token" in direct.json()
        again = httpx.get(str(direct.request.url)).json()
        assert again["errcode"] == 40163
        res = browser.get(callback)
        assert res.status_code == 400 and "code-used" in res.text
        _no_session(res)


def test_simulator_error_codes(live_server) -> None:  # type: ignore[no-untyped-def]
    base = f"{live_server.url}/_sim/wechat/sns/oauth2/access_token"
    good = {"appid": "wx-yunying-dev", "secret": "dev-secret-not-for-production", "code": "x",
            "grant_type": "authorization_code"}
    assert httpx.get(base, params={**good, "appid": "wx-other"}).json()["errcode"] == 40013
    assert httpx.get(base, params={**good, "secret": "nope"}).json()["errcode"] == 40125
    assert httpx.get(base, params=good).json()["errcode"] == 40029


def test_snapshot_user_is_never_logged_in(live_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
        callback = authorize(browser, start_login(browser), openid="snap-user", snapshot=True)
        res = browser.get(_path(callback))
        assert res.status_code == 200 and "请使用完整服务" in res.text
        _no_session(res)
        assert browser.get("/api/v1/me").status_code == 401


def test_open_redirect_refused(live_server) -> None:  # type: ignore[no-untyped-def]
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        assert safe_next(evil) == "/"
    assert safe_next("/studies/1?x=2") == "/studies/1?x=2"
    with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
        callback = authorize(browser, start_login(browser, next_path="//evil.example/"), openid="redir-user")
        res = browser.get(_path(callback))
        assert res.status_code == 302 and res.headers["location"] == "/"


def test_refresh_rotation_and_reuse_detection(live_server) -> None:  # type: ignore[no-untyped-def]
    from tests.auth.helpers import csrf_headers, login

    with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
        assert login(browser, openid="refresh-user").status_code == 302
        old_refresh = browser.cookies.get("yy_refresh", path="/auth")
        assert browser.post("/auth/refresh").status_code == 403  # CSRF
        rotated = browser.post("/auth/refresh", headers=csrf_headers(browser))
        assert rotated.status_code == 204
        assert browser.get("/api/v1/me").status_code == 200
        # A thief replays the old refresh token: the whole session is revoked.
        with httpx.Client(base_url=live_server.url) as thief:
            thief.cookies.set("yy_refresh", old_refresh or "", path="/auth")
            thief.cookies.set("yy_csrf", "t")
            assert thief.post("/auth/refresh", headers={"X-CSRF-Token": "t"}).status_code == 401
        assert browser.get("/api/v1/me").status_code == 401
