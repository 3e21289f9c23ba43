"""The access token and jsapi ticket are fetched once and shared by every worker process."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.live


def _hammer(url: str) -> None:
    page = f"{url}/studies/1?x=1#frag"

    def one(_: int) -> dict:  # type: ignore[type-arg]
        res = httpx.get(f"{url}/api/v1/wechat/jssdk-config", params={"url": page}, timeout=20)
        assert res.status_code == 200, res.text
        return res.json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(24)))
    stats = httpx.get(f"{url}/_sim/wechat/stats").json()
    assert stats["cgi-bin.stable_token"] == 1, stats
    assert stats["cgi-bin.ticket.getticket"] == 1, stats
    ticket = _ticket(url)
    for cfg in answers:  # JS-SDK appendix 1: sha1 over the sorted fields, URL without the fragment
        raw = f"jsapi_ticket={ticket}&noncestr={cfg['nonceStr']}&timestamp={cfg['timestamp']}&url={page.split('#')[0]}"
        assert cfg["signature"] == hashlib.sha1(raw.encode()).hexdigest()
    foreign = httpx.get(f"{url}/api/v1/wechat/jssdk-config", params={"url": "https://evil.example/x"})
    assert foreign.status_code == 400


def _ticket(url: str) -> str:
    token = httpx.post(f"{url}/_sim/wechat/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": "wx-yunying-dev", "secret": "dev-secret-not-for-production"}).json()
    res = httpx.get(f"{url}/_sim/wechat/cgi-bin/ticket/getticket",
                    params={"access_token": token["access_token"], "type": "jsapi"})
    return str(res.json()["ticket"])


def test_two_workers_share_the_token_in_the_database(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(workers=2) as server:
        _hammer(server.url)


def test_two_workers_share_the_token_in_redis(live_server_factory, redis_url) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(workers=2, extra_env={"YUNYING_REDIS_URL": redis_url}) as server:
        _hammer(server.url)
