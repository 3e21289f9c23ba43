"""The shared access token: fetched once, renewed ahead of expiry, one bounded retry on a token error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.clock import utcnow
from backend.config import Settings
from backend.shared_state import DatabaseState
from backend.wechat.client import Credentials
from tests.auth.asgi_http import session_factory


@pytest.fixture
def wechat(app, settings: Settings, engine) -> Iterator[tuple[Credentials, httpx.Client]]:  # type: ignore[no-untyped-def]
    app.state.notify_dispatcher = False
    with TestClient(app, base_url="http://testserver") as client:
        creds = Credentials(settings=settings, state=DatabaseState(engine), http=session_factory(client))
        yield creds, client


def _stats(client: httpx.Client) -> dict[str, int]:
    return client.get("/_sim/wechat/stats").json()  # type: ignore[no-any-return]


def test_fetched_once_and_shared(wechat) -> None:  # type: ignore[no-untyped-def]
    creds, client = wechat
    first = creds.access_token()
    assert all(creds.access_token() == first for _ in range(5))
    assert _stats(client)["cgi-bin.stable_token"] == 1
    assert creds.jsapi_ticket() == creds.jsapi_ticket()
    assert _stats(client)["cgi-bin.ticket.getticket"] == 1


def test_renewed_ahead_of_expiry(wechat) -> None:  # type: ignore[no-untyped-def]
    creds, client = wechat
    creds.state.put(creds._name("access_token"), "about-to-expire", expires_at=utcnow() + timedelta(minutes=2))
    assert creds.access_token() != "about-to-expire"
    assert _stats(client)["cgi-bin.stable_token"] == 1


def test_one_bounded_retry_on_a_token_error(wechat) -> None:  # type: ignore[no-untyped-def]
    creds, client = wechat
    client.post("/_sim/wechat/control", json={"openid": "someone", "template_errcode": None})
    creds.state.put(creds._name("access_token"), "revoked-token", expires_at=utcnow() + timedelta(hours=1))
    result = creds.call(lambda c: c.message.send_template("someone", "tpl", {"first": {"value": "x"}}))
    assert result["errcode"] == 0
    stats = _stats(client)
    assert stats["cgi-bin.message.template.send"] == 2 and stats["cgi-bin.stable_token"] == 1


def test_the_login_code_exchange_gives_up_after_wechats_timeout(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    """wechatpy's OAuth client sends with no timeout: a WeChat that never answered held the login's
    thread for ever, and under a rush of logins a worker's every thread (issue 18)."""
    import requests

    from backend.auth import oauth
    from backend.wechat.client import TIMEOUT_SECONDS

    timeouts: list[object] = []

    class Recorder(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            timeouts.append(kwargs.get("timeout"))
            raise requests.ConnectionError("never answered")

    def http() -> requests.Session:
        session = requests.Session()
        session.mount("http://", Recorder())
        session.mount("https://", Recorder())
        return session

    with pytest.raises(oauth.LoginProblem) as problem:
        oauth.exchange_code(settings, state_store=DatabaseState(engine), code="a-code", http=http,
                            redirect_uri=f"{settings.public_url}/auth/wechat/callback")
    assert problem.value.kind == "unavailable"
    assert timeouts == [TIMEOUT_SECONDS]
