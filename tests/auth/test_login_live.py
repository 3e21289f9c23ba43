"""The full WeChat login over real HTTP: our server, the simulator it hosts, a browser-like client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth.helpers import authorize, csrf_headers, login, start_login

pytestmark = pytest.mark.live


def test_full_login_then_me(live_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
        authorize_url = start_login(browser, next_path="/timeline?kind=imaging_study")
        assert authorize_url.startswith(f"{live_server.url}/_sim/wechat/connect/oauth2/authorize?")
        query = parse_qs(urlsplit(authorize_url).query)
        assert query["scope"] == ["snsapi_base"] and query["response_type"] == ["code"]
        assert 16 <= len(query["state"][0]) <= 128 and query["state"][0].isalnum()
        callback = authorize(browser, authorize_url, openid="live-user-1")
        res = browser.get(callback.removeprefix(live_server.url))
        assert res.status_code == 302
        assert res.headers["location"] == "/timeline?kind=imaging_study"
        cookies = res.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("yy_session="))
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie.replace("Lax", "lax")
        csrf_cookie = next(c for c in cookies if c.startswith("yy_csrf="))
        assert "HttpOnly" not in csrf_cookie
        me = browser.get("/api/v1/me")
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["bound"] is False and body["person"] is None and body["people"] == []
        assert me.headers["cache-control"] == "no-store"

        # The same callback URL loaded again: the code is spent; the browser is already logged in.
        again = browser.get(callback.removeprefix(live_server.url))
        assert again.status_code == 302 and again.headers["location"] == "/"

        # Logout needs the CSRF header, and revokes at once.
        assert browser.post("/auth/logout").status_code == 403
        assert browser.post("/auth/logout", headers=csrf_headers(browser)).status_code == 204
        assert browser.get("/api/v1/me").status_code == 401


def test_new_wechat_user_is_a_new_account(live_server) -> None:  # type: ignore[no-untyped-def]
    ids = set()
    for openid in ("live-a", "live-b", "live-a"):
        with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
            assert login(browser, openid=openid).status_code == 302
            ids.add(browser.get("/api/v1/me").json()["account"]["id"])
    assert len(ids) == 2
