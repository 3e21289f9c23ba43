"""A share open that the front proxy sends again (issue 18): nginx resends a POST to the other web node
when the node it went to died before answering (deploy/nginx/yunying.conf), with the same X-Request-Id.
The first try may already have counted the open, the attempt or the wrong code; the resend must count
none of them again — else a ``max_opens=1`` share is used up by the proxy, not by the doctor. Only a
trusted proxy's request id is believed: from anyone else each POST is a try of its own. Runs on SQLite
and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from backend.access.models import AuditEvent
from backend.config import Settings
from backend.db import session_scope
from backend.sharing.models import Share, ShareSession
from tests.family import helpers as h
from tests.sharing.world import OUTSIDE, PROXY, ShareWorld, peer, proxied_settings, token_of


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return proxied_settings(tmp_path, database_url)  # the `world` fixture (conftest.py) builds on these


def _post(c: TestClient, token: str, code: str, request_id: str) -> Any:
    return c.post(f"/s/{token}/session", json={"access_code": code}, headers={"X-Request-Id": request_id})


def _other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_resent_open_of_a_single_open_share_gets_in_and_counts_one_open(world: ShareWorld,
                                                                          client: TestClient) -> None:
    made = world.create(with_access_code=True, max_opens=1)
    token, code = token_of(made["url"]), made["access_code"]
    with peer(client.app, PROXY) as first, peer(client.app, PROXY) as resend:
        # The first try committed its open on the node that then died: its answer never arrived.
        assert _post(first, token, code, "a1b2c3d4e5f6a7b8").status_code == 200
        again = _post(resend, token, code, "a1b2c3d4e5f6a7b8")
        assert again.status_code == 200, again.text
        assert again.headers["x-request-id"] == "a1b2c3d4e5f6a7b8"  # the proxy's id, in our logs too
        assert resend.get("/api/v1/share/session").status_code == 200
        # the first try's secret never reached anyone and no longer opens anything
        assert first.get("/api/v1/share/session").status_code in (401, 404)
        # a new request (a new id) is a new open: the one open is spent
        assert _post(resend, token, code, "0f0f0f0f0f0f0f0f").status_code == 410
    with session_scope(world.engine, readonly=True) as s:
        share = s.get(Share, made["id"])
        assert share is not None and share.opens == 1
        sessions = s.exec(select(func.count()).select_from(ShareSession)
                          .where(col(ShareSession.share_id) == made["id"])).one()
        opens = s.exec(select(func.count()).select_from(AuditEvent)
                       .where(col(AuditEvent.event_type) == "share.open")).one()
    assert sessions == 1 and opens == 1


def test_a_resent_wrong_code_counts_one_failure(world: ShareWorld, client: TestClient) -> None:
    made = world.create(with_access_code=True)
    token, code = token_of(made["url"]), made["access_code"]
    wrong = _other_code(code)
    with peer(client.app, PROXY) as doctor:
        for _ in range(2):  # the first try and the proxy's resend of it: one failure
            res = _post(doctor, token, wrong, "feedfacefeedface")
            assert res.status_code == 403 and h.code(res) == "share-code-wrong"
        for n in range(4):  # four more wrong codes: the fifth failure, not yet the lock
            res = _post(doctor, token, wrong, f"beefbeefbeef000{n}")
            assert res.status_code == 403, (n, res.text)
        locked = _post(doctor, token, code, "cafecafecafecafe")
        assert locked.status_code == 429 and h.code(locked) == "share-locked"
    with session_scope(world.engine, readonly=True) as s:
        failed = s.exec(select(func.count()).select_from(AuditEvent)
                        .where(col(AuditEvent.event_type) == "share.code_failed")).one()
    assert failed == 5


def test_a_request_id_from_an_untrusted_peer_is_ignored(world: ShareWorld, client: TestClient) -> None:
    """Else a doctor could open a one-open share as often as they like by sending one id again."""
    made = world.create(with_access_code=True, max_opens=1)
    token, code = token_of(made["url"]), made["access_code"]
    with peer(client.app, OUTSIDE) as doctor:
        first = _post(doctor, token, code, "a1b2c3d4e5f6a7b8")
        assert first.status_code == 200
        assert first.headers["x-request-id"] != "a1b2c3d4e5f6a7b8"
        assert _post(doctor, token, code, "a1b2c3d4e5f6a7b8").status_code == 410
