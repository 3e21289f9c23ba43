"""Issue 18: six people logging in at the same moment on a fresh PostgreSQL database — five of six got
"微信暂时无法连接" (503): the simulator's call counter was created by a read-then-insert that races under
READ COMMITTED (SQLite hides it by serializing writes). A province's morning is thousands of first logins
at once: every one of them must get in."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from benchmarks.login_rush import rush, summary
from tests.auth.helpers import login

pytestmark = pytest.mark.live
PEOPLE = 12


def _first_login(url: str, n: int) -> tuple[int, str]:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
        res = login(client, openid=f"morning-{n}")
        me = client.get("/api/v1/me")
        return res.status_code, me.text if me.status_code != 200 else "ok"


def test_many_first_logins_at_the_same_moment(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(workers=2) as server, ThreadPoolExecutor(PEOPLE) as pool:
        for _ in range(2):  # a second wave: the same new accounts log in again at once
            results = list(pool.map(lambda n: _first_login(server.url, n), range(PEOPLE)))
            assert [r for r in results if r != (302, "ok")] == [], results


RUSH = int(os.environ.get("YUNYING_LOGIN_RUSH", "120"))


def test_a_rush_of_first_logins_all_get_in(live_server_factory, database_backend) -> None:  # type: ignore[no-untyped-def]
    """The load run's Monday morning in small: RUSH new people released at one instant against two
    workers. Before the fix most of them answered 503 ``busy`` (a worker's database pool ran dry while
    logins waited on the WeChat call) or 400 (a code claimed by a callback that then failed)."""
    if database_backend != "postgresql":
        pytest.skip("the pool exhaustion is PostgreSQL's (SQLite is one file, its pool another story)")
    with live_server_factory(workers=2) as server:
        outcomes = rush(server.url, people=RUSH, timeout=30)  # before the fix: every login hung
        report = summary(outcomes, wall=0.0, cpu=0.0)
        print(json.dumps(report, ensure_ascii=False))
        assert report["ok"] == RUSH, report  # before stopping: a wedged server also fails to stop


def _at_once(engine, work, n: int = 8) -> list[BaseException | None]:  # type: ignore[no-untyped-def]
    import threading

    from backend.db import session_scope

    barrier = threading.Barrier(n)

    def one(i: int) -> BaseException | None:
        try:
            with session_scope(engine) as session:
                session.connection()  # the transaction is open before anyone writes
                barrier.wait(timeout=10)
                work(session, i)
            return None
        except BaseException as exc:  # noqa: BLE001 - reported below
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_counters_and_first_users_are_upserts(engine, database_backend) -> None:  # type: ignore[no-untyped-def]
    """The read-then-insert pattern, replayed at the service level with every transaction open at once
    (PostgreSQL only: SQLite's writers never hold a transaction at the same time)."""
    if database_backend != "postgresql":
        pytest.skip("SQLite serializes writers: no two transactions are open at once")
    from backend.auth.simulator import service as sim
    from backend.auth.simulator.models import SimCounter
    from backend.db import session_scope

    assert _at_once(engine, lambda s, i: sim.bump(s, "sns.oauth2.access_token")) == [None] * 8
    assert _at_once(engine, lambda s, i: sim.ensure_user(s, openid="same-new-user")) == [None] * 8
    with session_scope(engine, readonly=True) as session:
        assert session.get(SimCounter, "sns.oauth2.access_token").value == 8  # type: ignore[union-attr]


def test_a_first_login_of_one_account_from_two_tabs(engine, database_backend) -> None:  # type: ignore[no-untyped-def]
    """Two callbacks for the same new WeChat user at once (two tabs, a double tap): one account, no error."""
    if database_backend != "postgresql":
        pytest.skip("SQLite serializes writers: no two transactions are open at once")
    from sqlmodel import select

    from backend.auth import oauth
    from backend.auth.models import Account
    from backend.db import session_scope

    identity = oauth.WeChatIdentity(openid="double-tap", unionid=None)
    assert _at_once(engine, lambda s, i: oauth.upsert_account(s, identity=identity)) == [None] * 8
    with session_scope(engine, readonly=True) as session:
        assert len(session.exec(select(Account).where(Account.openid == "double-tap")).all()) == 1


def test_a_counter_bump_holds_no_lock_for_the_request(engine) -> None:  # type: ignore[no-untyped-def]
    """The simulator's counter row is bumped by every code exchange: bumped inside the request's
    transaction, its lock lasted until the request's answer was committed, and a rush of logins queued
    behind it until the server wedged (issue 18). Bumped first, it commits on its own."""
    from sqlalchemy import text
    from sqlmodel import Session

    from backend.auth.simulator import service as sim
    from backend.auth.simulator.models import SimCounter
    from backend.db import session_scope

    with Session(engine) as request_session:
        sim.bump(request_session, "own-transaction")
        with session_scope(engine) as other:  # another request's bump: it waited for the lock
            if engine.dialect.name == "postgresql":
                other.execute(text("SET LOCAL lock_timeout = '2s'"))  # fail, not hang, on that wait
            sim.bump(other, "own-transaction")
        request_session.rollback()
    with session_scope(engine, readonly=True) as session:
        assert session.get(SimCounter, "own-transaction").value == 2  # type: ignore[union-attr]
