"""JSON parsed by hand (``json.loads``) is as hostile as any: nesting deeper than the interpreter's
recursion limit raises RecursionError, not ValueError. A few KB of ``[[[[…`` must be a 400, not a 500."""

from __future__ import annotations

import httpx

DEEP = b"[" * 2000 + b"]" * 2000  # 4000 bytes: under the share form's 4 KiB cap, deeper than the recursion limit
DEEP_OBJECT = b'{"a":' * 1500 + b"1" + b"}" * 1500


def test_share_session_with_deeply_nested_json_is_400(client: httpx.Client) -> None:
    res = client.post("/s/yys_unknown/session", content=DEEP, headers={"content-type": "application/json"})
    assert res.status_code == 400, res.text[:300]
    assert res.headers["content-type"].startswith("application/problem+json")


def test_simulator_json_endpoints_survive_deep_json(client: httpx.Client) -> None:
    # Development-only WeChat simulator (CONTRACT.md): still never a 500 for a body it cannot read.
    for path in ("/_sim/wechat/cgi-bin/stable_token", "/_sim/wechat/control"):
        res = client.post(path, content=DEEP_OBJECT, headers={"content-type": "application/json"})
        assert res.status_code < 500, (path, res.text[:300])
