"""The access epoch (access/epoch.py, migration 0012): every watched write moves it, in the writing
transaction; writes that cannot narrow access leave it alone. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.decisions import DecisionCache, clocks_now
from backend.access.epoch import EpochReader, current
from backend.auth.models import AuthSession
from backend.clock import utcnow
from backend.config import Settings
from backend.db import session_scope
from backend.family import rules
from backend.family.models import ACTIVE, INVITATION, REVOKED, Grant
from tests.family import helpers as h

MIGRATION = Path(__file__).resolve().parents[2] / "backend/migrations/versions/0012_access_epoch.py"


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("access_epoch_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _epoch(engine: Engine) -> int:
    with session_scope(engine, readonly=True) as s:
        return current(s) or 0  # PostgreSQL tests truncate every table between tests: no row yet


def test_every_watched_table_and_event_has_its_trigger(engine: Engine) -> None:
    m = _migration()
    expected = {m._name(table, event) for table, events in m.WATCHED.items() for event in events}
    query = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal" if engine.dialect.name == "postgresql"
             else "SELECT name FROM sqlite_master WHERE type = 'trigger'")
    with engine.connect() as conn:
        present = {row[0] for row in conn.execute(text(query))}
    assert expected <= present, expected - present


def test_watched_writes_move_the_epoch_and_others_do_not(engine: Engine, settings: Settings) -> None:
    inst = h.hospital(engine)
    person = h.person(engine, settings, inst, local_id="P1", resident_id="320106196203150013", name="张伟")
    owner = h.account(engine, "o-owner", bind_to=person)  # a binding: watched (insert)
    start = _epoch(engine)
    assert start > 0

    h.cookie_headers(engine, settings, owner)  # a new session: cannot narrow anything
    h.study(engine, inst, local_id="P1", uid="1.2.826.0.9.1")  # ingest of a new study: not watched
    assert _epoch(engine) == start

    with session_scope(engine) as s:
        row = s.exec(select(AuthSession)).one()
        row.last_seen_at = utcnow()  # a refresh touches the session: not an access change
        s.add(row)
    assert _epoch(engine) == start

    relative = h.account(engine, "o-daughter")
    grant_id = h.grant(engine, person_id=person, account_id=relative)
    after_grant = _epoch(engine)
    assert after_grant > start
    with session_scope(engine) as s:
        grant = h.grant_row(engine, grant_id)
        grant.status = REVOKED
        s.add(grant)
    after_revoke = _epoch(engine)
    assert after_revoke > after_grant
    with session_scope(engine) as s:
        row = s.exec(select(AuthSession)).one()
        row.revoked_at = utcnow()
        s.add(row)
    assert _epoch(engine) > after_revoke


def test_the_epoch_moves_only_when_the_write_commits(engine: Engine, settings: Settings) -> None:
    inst = h.hospital(engine)
    person = h.person(engine, settings, inst, local_id="P1", resident_id="320106196203150013", name="张伟")
    h.account(engine, "o-owner", bind_to=person)  # a watched write: the counter row exists
    relative = h.account(engine, "o-daughter")
    start = _epoch(engine)
    reader = EpochReader(engine)
    try:
        with pytest.raises(RuntimeError), session_scope(engine) as s:
            s.add(Grant(grantor_person_id=person, grantee_account_id=relative, relationship="child",
                        kind=INVITATION, status=ACTIVE, created_by_account_id=relative))
            s.flush()
            raise RuntimeError("rolled back")
        assert reader.read() == start == _epoch(engine)
    finally:
        reader.close()


def test_cached_decisions_need_the_same_epoch_and_a_young_age() -> None:
    cache: DecisionCache[str] = DecisionCache(ttl_s=60)
    cache.put("k", "yes", epoch=5, clocks=clocks_now())
    assert cache.get("k", epoch=5) == "yes"
    assert cache.get("k", epoch=6) is None  # something access-relevant was written since
    assert cache.get("k", epoch=None) is None  # the epoch could not be read
    with rules.travel(utcnow() + timedelta(minutes=2)):  # older than the TTL on the policy's clock
        assert cache.get("k", epoch=5) is None
    with rules.travel(utcnow() - timedelta(minutes=2)):  # a clock going backwards is no excuse either
        assert cache.get("k", epoch=5) is None
    assert cache.get("k", epoch=5) == "yes"


def test_the_event_loops_read_never_waits_for_a_connection_or_another_reader(engine: Engine) -> None:
    # Issue 18: the preview hot path read the epoch on the event loop, and a reader without its connection
    # took one from the pool there. In a rush the pool was empty: the loop waited the pool's timeout, and
    # the requests holding the connections needed that loop to finish — every request on the node stalled.
    import threading
    import time

    from sqlalchemy import create_engine

    small = create_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0,
                          pool_timeout=3)
    reader = EpochReader(small)
    try:
        with small.connect() as held:  # the pool's only connection, busy
            held.execute(text("SELECT 1"))
            started = time.monotonic()
            assert reader.read(connect=False) is None
            assert time.monotonic() - started < 0.5 and not reader.connected
        value = reader.read()  # a worker thread's read connects
        assert reader.connected and reader.read(connect=False) == value
        with reader._lock:  # another thread in the middle of a read (or of connecting)
            result: list[int | None] = []
            thread = threading.Thread(target=lambda: result.append(reader.read(connect=False)))
            started = time.monotonic()
            thread.start()
            thread.join(2)
            assert result == [None] and time.monotonic() - started < 0.5
    finally:
        reader.close()
        small.dispose()


def test_counting_a_share_open_or_linking_a_new_study_leaves_the_epoch(engine: Engine, settings: Settings) -> None:
    """Migration 0021 (issue 18): a bump rebuilds every node's cached decisions and image facts. A share's
    open count and a new study joining its person cannot narrow access; every other share column, and
    a study moving from one person to another, still move the epoch."""
    from backend.sharing.models import Share

    counters = {"opens", "first_opened_at", "updated_at"}
    inst = h.hospital(engine)
    person = h.person(engine, settings, inst, local_id="P1", resident_id="320106196203150013", name="张伟")
    other = h.person(engine, settings, inst, local_id="P2", resident_id="320102198503120020", name="王芳")
    owner = h.account(engine, "o-owner", bind_to=person)
    with session_scope(engine) as s:
        share = Share(person_id=person, created_by_account_id=owner, token_digest="d" * 64, scope="studies",
                      expires_at=utcnow() + timedelta(days=1))
        s.add(share)
        s.flush()
        share_id = share.id
    columns = [c.name for c in Share.__table__.columns]  # type: ignore[attr-defined]
    assert counters < set(columns)
    for column in columns:
        before = _epoch(engine)
        with engine.begin() as conn:
            conn.execute(text(f'UPDATE share SET "{column}" = "{column}" WHERE id = :id'), {"id": share_id})
        moved = _epoch(engine) > before
        assert moved == (column not in counters), column

    study = h.study(engine, inst, local_id="P9", uid="1.2.826.0.9.2")  # no such patient yet: no person
    before = _epoch(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE imaging_study SET person_id = :p WHERE id = :s"), {"p": person, "s": study})
    assert _epoch(engine) == before  # joining its person: only widens
    with engine.begin() as conn:
        conn.execute(text("UPDATE imaging_study SET person_id = :p WHERE id = :s"), {"p": other, "s": study})
    assert _epoch(engine) > before  # moved away from a person: narrows theirs
