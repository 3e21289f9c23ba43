"""Scenario helpers: log in through the WeChat simulator over real HTTP, like a browser."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx


def start_login(client: httpx.Client, *, next_path: str = "/") -> str:
    """GET /auth/wechat/start; returns the authorize URL (without WeChat's #wechat_redirect)."""
    res = client.get("/auth/wechat/start", params={"next": next_path})
    assert res.status_code == 302, res.text
    return res.headers["location"].split("#", 1)[0]


def authorize(client: httpx.Client, authorize_url: str, *, openid: str, snapshot: bool = False) -> str:
    """The simulator's authorize page with sim_user: returns our callback URL with code and state."""
    extra = f"&sim_user={openid}" + ("&sim_snapshot=true" if snapshot else "")
    res = client.get(authorize_url + extra)
    assert res.status_code == 302, res.text
    return str(res.headers["location"])


def login(client: httpx.Client, *, openid: str, next_path: str = "/") -> httpx.Response:
    callback = authorize(client, start_login(client, next_path=next_path), openid=openid)
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")


def csrf_headers(client: httpx.Client) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies.get("yy_csrf") or ""}
