"""WeChat's message endpoint, driven by the simulator's signed, encrypted pushes."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlmodel import select

from backend.auth.models import Account
from backend.db import session_scope
from backend.wechat.messages import sha1_signature
from backend.wechat.models import InboundMessage

pytestmark = pytest.mark.live


def _push(url: str, **body: object) -> dict:  # type: ignore[type-arg]
    res = httpx.post(f"{url}/_sim/wechat/push", json=body, timeout=10)
    assert res.status_code == 200, res.text
    return res.json()  # type: ignore[no-any-return]


def test_subscribe_unsubscribe_and_dedup(live_server, engine) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time())
    assert _push(live_server.url, openid="fan-1", event="subscribe", create_time=now) == {
        "status": 200, "body": "success"}
    # WeChat retries the same event: answered, not handled twice.
    assert _push(live_server.url, openid="fan-1", event="subscribe", create_time=now)["status"] == 200
    assert _push(live_server.url, openid="fan-1", event="SCAN", event_key="123", create_time=now + 1)["status"] == 200
    assert _push(live_server.url, openid="fan-1", event="CLICK", event_key="K", create_time=now + 2)["status"] == 200
    text = _push(live_server.url, openid="fan-1", msg_type="text", content="你好", msg_id=42, event=None)
    assert text["status"] == 200
    with session_scope(engine, readonly=True) as session:
        assert session.exec(select(Account).where(Account.openid == "fan-1")).one().subscribed is True
        assert len(session.exec(select(InboundMessage)).all()) == 4
    assert _push(live_server.url, openid="fan-1", event="unsubscribe", create_time=now + 3)["status"] == 200
    with session_scope(engine, readonly=True) as session:
        assert session.exec(select(Account).where(Account.openid == "fan-1")).one().subscribed is False


def test_rejections(live_server) -> None:  # type: ignore[no-untyped-def]
    url = live_server.url
    assert _push(url, openid="x", forge_signature=True)["status"] == 403
    assert _push(url, openid="x", timestamp=int(time.time()) - 3600)["status"] == 400
    doctype = '<!DOCTYPE xml [<!ENTITY a "b">]><xml><FromUserName>x</FromUserName></xml>'
    assert _push(url, openid="x", raw_inner_xml=doctype)["status"] == 400
    big = b"<xml><Encrypt>" + b"A" * 70_000 + b"</Encrypt></xml>"
    res = httpx.post(f"{url}/wechat/callback", params={"timestamp": str(int(time.time())), "nonce": "n",
                                                       "encrypt_type": "aes", "msg_signature": "0"}, content=big)
    assert res.status_code == 413
    plain = httpx.post(f"{url}/wechat/callback", content=b"<xml><a>1</a></xml>")
    assert plain.status_code == 400
    raw_doctype = httpx.post(f"{url}/wechat/callback", content=b'<!DOCTYPE x><xml><Encrypt>a</Encrypt></xml>',
                             params={"timestamp": str(int(time.time())), "nonce": "n", "encrypt_type": "aes",
                                     "msg_signature": "0"})
    assert raw_doctype.status_code == 400


def test_url_verification(live_server) -> None:  # type: ignore[no-untyped-def]
    ts, nonce = str(int(time.time())), "nonce1"
    good = sha1_signature("yunying-dev-token", ts, nonce)
    res = httpx.get(f"{live_server.url}/wechat/callback",
                    params={"signature": good, "timestamp": ts, "nonce": nonce, "echostr": "hello"})
    assert res.status_code == 200 and res.text == "hello"
    res = httpx.get(f"{live_server.url}/wechat/callback",
                    params={"signature": "f" * 40, "timestamp": ts, "nonce": nonce, "echostr": "hello"})
    assert res.status_code == 403
