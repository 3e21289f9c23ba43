"""Binding by WeChat real-name face verification (人脸核身), against the simulator over real HTTP.

The stronger path of issue 15 item 1: what WeChat verified against the citizen ID database proves the
identity, whatever phone any hospital registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from backend.auth.demo import seed_wechat
from tests.auth.helpers import csrf_headers, login

pytestmark = pytest.mark.live
WANG = {"name": "王芳", "resident_id": "320102198503120020"}


@pytest.fixture
def server(settings, engine, live_server):  # type: ignore[no-untyped-def]
    seed_wechat(settings=settings, engine=engine)  # 王芳 registered (phone 13800138000), unbound
    return live_server


@contextmanager
def _browser(url: str, openid: str, *, realname: dict[str, str] | None = None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, follow_redirects=False) as client:
        assert login(client, openid=openid).status_code == 302
        if realname:
            client.post("/_sim/wechat/control", json={"openid": openid, "realname_name": realname["name"],
                                                      "realname_id_number": realname["resident_id"]})
        yield client


def _face(browser: httpx.Client, openid: str, who: dict[str, str]) -> str:
    res = browser.post("/_sim/wechat/face/verify", json={"openid": openid, "name": who["name"],
                                                         "id_card_number": who["resident_id"]})
    assert res.status_code == 200 and res.json()["err_code"] == 0, res.text
    return str(res.json()["verify_result"])


def _bind(browser: httpx.Client, who: dict[str, str], verify_result: str) -> httpx.Response:
    return browser.post("/api/v1/me/binding/realname", headers=csrf_headers(browser),
                        json={**who, "verify_result": verify_result, "consent_version": "2026-11"})


def test_face_verified_user_binds_without_any_phone(server) -> None:  # type: ignore[no-untyped-def]
    with _browser(server.url, "face-wang", realname=WANG) as browser:
        result = _face(browser, "face-wang", WANG)
        res = _bind(browser, WANG, result)
        assert res.status_code == 201, res.text
        me = browser.get("/api/v1/me").json()
        assert me["bound"] is True and me["person"]["name"] == "王*"
        assert [e for e in browser.get("/_sim/wechat/inbox").json() if e["kind"] == "sms"] == []
        again = _bind(browser, WANG, result)  # a verify_result is used once
        assert again.status_code in (400, 409)


def test_the_verdict_must_match_the_account_and_the_typed_identity(server) -> None:  # type: ignore[no-untyped-def]
    someone = {"name": "李四", "resident_id": "110101199001010074"}
    with _browser(server.url, "face-li", realname=someone) as li:
        # 李四's own face cannot claim 王芳: WeChat's verdict says "not this person".
        mismatch = _bind(li, WANG, _face(li, "face-li", WANG))
        assert mismatch.status_code == 400 and mismatch.json()["type"].endswith("realname-failed")
        # A verdict about 李四 does not bind 王芳 either (the digests differ).
        own = _face(li, "face-li", someone)
        assert _bind(li, WANG, own).status_code == 400
        # 李四 is verified but no hospital registered him: nothing to bind.
        none = _bind(li, someone, _face(li, "face-li", someone))
        assert none.status_code == 404 and none.json()["type"].endswith("person-not-registered")
    with _browser(server.url, "face-wang-2", realname=WANG) as wang, \
            _browser(server.url, "face-thief") as thief:
        stolen = _face(wang, "face-wang-2", WANG)  # another WeChat user's verify_result
        res = _bind(thief, WANG, stolen)
        assert res.status_code == 400 and res.json()["type"].endswith("realname-failed")
