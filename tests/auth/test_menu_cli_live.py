"""``yunying wechat menu`` publishes the menu through the same WeChat client (to the simulator)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.live


def test_menu_is_published(live_server) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run([sys.executable, "-m", "backend.cli", "wechat", "menu"], cwd=ROOT, env=live_server.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    menus = httpx.get(f"{live_server.url}/_sim/wechat/inbox", params={"kind": "menu"}).json()
    assert len(menus) == 1
    urls = [b["url"] for b in menus[0]["button"]]
    assert all(u.startswith(f"{live_server.url}/auth/wechat/start?next=/") for u in urls)
    assert httpx.get(f"{live_server.url}/_sim/wechat/inbox").json() == []  # users received nothing
