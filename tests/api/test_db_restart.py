"""A PostgreSQL connection cut mid-request (issue 18: the database restarts under load). A read whose
connection dies before anything was committed runs again on a fresh connection; after the bound, or for
a write, the 503 + Retry-After stays. The connection is really terminated (pg_terminate_backend) from a
second connection while the request is running."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from backend.api import db_retry
from tests.conftest import PG_URL
from tests.family import helpers as h

pytestmark = pytest.mark.skipif(not PG_URL, reason="pg_terminate_backend needs PostgreSQL")


class Terminator:
    """Before a request's statement runs, terminate the PostgreSQL backend serving its connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.left = 0  # how many statements to cut off
        self.cut = 0
        self.busy = False  # the admin connection's own statements pass

    def __call__(self, conn: Any, _cursor: Any, _statement: str, *_args: Any) -> None:
        if self.left <= 0 or self.busy:
            return
        self.left -= 1
        self.busy = True
        try:
            self._terminate(conn)
        finally:
            self.busy = False
        self.cut += 1

    def _terminate(self, conn: Any) -> None:
        pid = conn.connection.dbapi_connection.info.backend_pid
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):  # until the backend is gone, so the statement surely meets a dead connection
                if admin.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                 {"pid": pid}).scalar() == 0:
                    break
                time.sleep(0.01)


@pytest.fixture
def terminator(engine: Engine) -> Iterator[Terminator]:
    cutter = Terminator(engine)
    event.listen(engine, "before_cursor_execute", cutter)
    yield cutter
    event.remove(engine, "before_cursor_execute", cutter)


def test_a_read_cut_off_mid_request_is_answered(client: Any, engine: Engine, settings: Any,
                                                terminator: Terminator) -> None:
    headers = h.cookie_headers(engine, settings, h.account(engine, "o-restart"))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    terminator.left = 1
    res = client.get("/api/v1/me", headers=headers)
    assert terminator.cut == 1
    assert res.status_code == 200, res.text


def test_past_the_bound_it_is_a_503_with_retry_after(client: Any, engine: Engine, settings: Any,
                                                     terminator: Terminator,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_retry, "RETRY_WITHIN_S", 1.0)
    headers = h.cookie_headers(engine, settings, h.account(engine, "o-restart"))
    terminator.left = 1000  # every statement: the database never comes back within the bound
    started = time.monotonic()
    res = client.get("/api/v1/me", headers=headers)
    assert res.status_code == 503 and int(res.headers["Retry-After"]) > 0
    assert res.json()["type"].endswith("database-unavailable")
    assert terminator.cut >= 2 and time.monotonic() - started < 5  # tried again, then gave up in time


def test_a_write_is_not_replayed(client: Any, engine: Engine, settings: Any, terminator: Terminator) -> None:
    headers = h.cookie_headers(engine, settings, h.account(engine, "o-restart"))
    terminator.left = 1
    res = client.post("/auth/logout", headers=headers)
    assert terminator.cut == 1
    assert res.status_code == 503 and int(res.headers["Retry-After"]) > 0
