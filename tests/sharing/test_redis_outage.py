"""Redis stopped (issue 18): a doctor's share page and open keep working, and the access-code lock
and the address block still hold — the share entry counts in the database, never in Redis, so an
outage neither refuses doctors nor resets an attacker's count. Here Redis is configured but nothing
listens at its address (the live version with a stopped Redis: tests/cluster/test_faults_live.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.config import Settings, load_settings
from backend.sharing.entry import ADDRESS_FAILURES, CODE_FAILURES
from tests.conftest import free_port
from tests.sharing.world import ShareWorld, token_of


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url,
                         redis_url=f"redis://127.0.0.1:{free_port()}/0", public_url="http://testserver")


def _other_code(code: str, n: int = 1) -> str:
    return f"{(int(code) + n) % 1_000_000:06d}"


def test_share_page_and_open_work_while_redis_is_down(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create()
    token = token_of(made["url"])
    page = doctor.get(f"/s/{token}", follow_redirects=False)
    assert page.status_code == 200, page.text
    opened = doctor.post(f"/s/{token}/session", json={})
    assert opened.status_code == 200, opened.text
    assert doctor.get("/api/v1/share/session").status_code == 200


def test_code_lock_holds_while_redis_is_down(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(with_access_code=True)
    token, code = token_of(made["url"]), made["access_code"]
    assert doctor.get(f"/s/{token}", follow_redirects=False).status_code == 200
    for n in range(1, CODE_FAILURES + 1):
        wrong = doctor.post(f"/s/{token}/session", json={"access_code": _other_code(code, n)})
        assert wrong.status_code == 403, wrong.text
    locked = doctor.post(f"/s/{token}/session", json={"access_code": code})  # even the right code
    assert locked.status_code == 429 and locked.json()["type"].endswith("share-locked")
    assert int(locked.headers["Retry-After"]) > 0


def test_address_block_holds_while_redis_is_down(world: ShareWorld, doctor: TestClient) -> None:
    for n in range(ADDRESS_FAILURES):
        assert doctor.get(f"/s/yys_unknown{n:04d}", follow_redirects=False).status_code == 404
    made = world.create()
    blocked = doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
    assert blocked.status_code == 429
