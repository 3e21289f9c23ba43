"""The access-code lock under real concurrency (issue 15, item 6): 100 wrong codes sent at once to one
share, against a real server process. At most CODE_FAILURES codes may ever be verified per lock window
— every attempt is reserved in the shared state before the code is checked — on SQLite or PostgreSQL
(whichever database the run uses), also with Redis configured (the entry counts in the database)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
from sqlmodel import col, func, select

from backend.access.models import AuditEvent
from backend.db import session_scope
from backend.sharing.entry import CODE_FAILURES
from tests.conftest import LiveServer
from tests.sharing.world import ShareWorld, token_of

LiveFactory = Callable[..., AbstractContextManager[LiveServer]]
CLIENTS = 100


def _storm(url: str, token: str, codes: list[str]) -> Counter[tuple[int, str]]:
    start = threading.Barrier(len(codes))
    seen: Counter[tuple[int, str]] = Counter()
    lock = threading.Lock()

    def attempt(code: str) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:  # each its own connection
            start.wait()
            res = c.post(f"/s/{token}/session", json={"access_code": code})
        slug = str(res.json().get("type", "")).rsplit("/", 1)[-1] if res.status_code != 200 else "ok"
        with lock:
            seen[(res.status_code, slug)] += 1

    threads = [threading.Thread(target=attempt, args=(code,)) for code in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return seen


def _failed_checks(world: ShareWorld, share_id: str) -> int:
    with session_scope(world.engine, readonly=True) as s:
        return int(s.exec(select(func.count()).select_from(AuditEvent).where(
            col(AuditEvent.event_type) == "share.code_failed", col(AuditEvent.object_id) == share_id)).one())


def _race(world: ShareWorld, live_server_factory: LiveFactory, env: dict[str, str]) -> None:
    made = world.create(with_access_code=True)
    token, code = token_of(made["url"]), made["access_code"]
    wrong = [f"{(int(code) + 1 + n) % 1_000_000:06d}" for n in range(CLIENTS)]
    with live_server_factory(workers=2, extra_env=env) as server:
        seen = _storm(server.url, token, wrong)
        # Every answer is a refusal: a wrong code (checked) or the lock (not checked), never a 500.
        assert set(seen) <= {(403, "share-code-wrong"), (429, "share-locked"), (429, "share-address-blocked")}, seen
        checked = seen[(403, "share-code-wrong")]
        assert checked <= CODE_FAILURES, seen
        assert _failed_checks(world, made["id"]) == checked
        # The lock holds afterwards, for the right code too.
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.post(f"/s/{token}/session", json={"access_code": code}).status_code == 429


def test_a_hundred_parallel_wrong_codes_check_at_most_five(world: ShareWorld, live_server_factory: LiveFactory) -> None:
    _race(world, live_server_factory, {})  # the database's shared state (SQLite, or PostgreSQL in its run)


def test_a_hundred_parallel_wrong_codes_check_at_most_five_in_redis(
    world: ShareWorld, live_server_factory: LiveFactory, redis_url: str
) -> None:
    # Redis configured: the entry still counts in the database (sharing/pages.py), so a Redis outage
    # cannot reset the count; this checks the configuration changes nothing.
    _race(world, live_server_factory, {"YUNYING_REDIS_URL": redis_url})
