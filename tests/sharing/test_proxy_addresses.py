"""Rate limits and the audit log see the client's address behind a trusted reverse proxy (issue 15,
item 6): two doctors behind one hospital proxy are two addresses, and a forged X-Forwarded-For from an
untrusted peer changes nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from backend.access.models import AuditEvent
from backend.config import Settings
from backend.db import session_scope
from backend.sharing.entry import ADDRESS_FAILURES
from tests.sharing.world import OUTSIDE, PROXY, ShareWorld, open_share, peer, proxied_settings, token_of


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return proxied_settings(tmp_path, database_url)  # the `world` fixture (conftest.py) builds on these


def _fail_until_blocked(c: TestClient, xff: str | None) -> None:
    headers = {"X-Forwarded-For": xff} if xff else {}
    for i in range(ADDRESS_FAILURES):
        res = c.get(f"/s/yys_{'C' * 31}{i}", headers=headers, follow_redirects=False)
        assert res.status_code == 404, res.text[:200]


def test_doctors_behind_one_trusted_proxy_have_their_own_limits(world: ShareWorld, client: TestClient) -> None:
    fresh = token_of(world.create()["url"])
    with peer(client.app, PROXY) as hospital:
        _fail_until_blocked(hospital, "198.51.100.7")  # doctor A: 20 unknown links
        blocked = hospital.get(f"/s/{fresh}", headers={"X-Forwarded-For": "198.51.100.7"}, follow_redirects=False)
        assert blocked.status_code == 429
        # doctor B behind the same proxy is not blocked by A's failures
        other = hospital.get(f"/s/{fresh}", headers={"X-Forwarded-For": "198.51.100.8"}, follow_redirects=False)
        assert other.status_code == 200, other.text[:200]
        # a forged left-most entry does not get A out of the block: the proxy appended A's real address
        forged = hospital.get(f"/s/{fresh}", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.7"},
                              follow_redirects=False)
        assert forged.status_code == 429


def test_a_forged_header_from_an_untrusted_peer_is_ignored(world: ShareWorld, client: TestClient) -> None:
    fresh = token_of(world.create()["url"])
    with peer(client.app, OUTSIDE) as attacker:
        for i in range(ADDRESS_FAILURES):  # a new forged address each time: still one address to us
            attacker.get(f"/s/yys_{'D' * 31}{i}", headers={"X-Forwarded-For": f"198.51.100.{i}"},
                         follow_redirects=False)
        res = attacker.get(f"/s/{fresh}", headers={"X-Forwarded-For": "198.51.100.200"}, follow_redirects=False)
        assert res.status_code == 429


def test_the_audit_log_records_the_forwarded_client(world: ShareWorld, client: TestClient) -> None:
    made = world.create()
    with peer(client.app, PROXY) as hospital:
        assert open_share(hospital, token_of(made["url"]), headers={"X-Forwarded-For": "198.51.100.9"}
                          ).status_code == 303
    with peer(client.app, OUTSIDE) as outside:
        assert open_share(outside, token_of(world.create()["url"]), headers={"X-Forwarded-For": "198.51.100.10"}
                          ).status_code == 303
    with session_scope(world.engine, readonly=True) as s:
        seen = s.exec(select(AuditEvent.network_address).where(col(AuditEvent.event_type) == "share.open")
                      .order_by(col(AuditEvent.seq))).all()
    assert list(seen) == ["198.51.100.9", "203.0.113.50"]
