"""Requests that hold a request-scoped session hop between threads with its connection (api/deps.py
``admitted``): with more of them in flight than the pool has connections, and every thread waiting for
a connection, nothing moved until the pool's timeout (issue 18, the login rush)."""

from __future__ import annotations

import time

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from backend.auth import sessions, web
from backend.auth.models import Account
from backend.config import Settings
from backend.db import make_engine, session_scope

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _small_pool(engine: Engine) -> None:
    """Two connections, a 3 s wait for one: the rush's 20 connections and 30 s, scaled down."""
    pool = engine.pool
    engine.pool = type(pool)(pool._creator, pool_size=2, max_overflow=0, timeout=3,  # type: ignore[call-arg]
                             pre_ping=pool._pre_ping, _dispatch=pool.dispatch, dialect=pool._dialect)


def test_many_session_requests_at_once_all_answer_without_waiting_out_the_pool(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.api import deps
    from backend.main import create_app

    # Scaled as the pool is: 8 of 20 connections in production, 1 of 2 here.
    monkeypatch.setattr(deps, "REQUEST_SESSIONS", 1)

    engine = make_engine(settings.effective_database_url)
    app = create_app(settings, engine=engine)
    try:
        with TestClient(app, base_url="http://testserver") as client:
            with session_scope(engine) as s:  # a logged-in person: the session row every request resolves
                account = Account(openid="o-rush")
                s.add(account)
                s.flush()
                tokens = sessions.start_session(s, settings=settings, account_id=account.id)
            cookies = {web.SESSION_COOKIE: tokens.access_token}
            _small_pool(engine)

            async def rush() -> tuple[list[int], float]:
                limiter = anyio.to_thread.current_default_thread_limiter()
                tokens, limiter.total_tokens = limiter.total_tokens, 3  # fewer threads than requests
                try:
                    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), cookies=cookies,
                                                 base_url="http://testserver") as http:
                        statuses: list[int] = []

                        async def one() -> None:
                            statuses.append((await http.get("/api/v1/me")).status_code)

                        started = time.monotonic()
                        async with anyio.create_task_group() as group:
                            for _ in range(12):
                                group.start_soon(one)
                        return statuses, time.monotonic() - started
                finally:
                    limiter.total_tokens = tokens

            statuses, took = client.portal.call(rush)  # type: ignore[union-attr]
    finally:
        engine.dispose()
    # Without the admission, requests holding both connections waited for a thread while all three threads
    # waited for a connection: 503s after the pool's 3 s.
    assert statuses == [200] * 12 and took < 3
