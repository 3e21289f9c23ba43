"""The STOW-RS receive gives way to its own process's SQLite writer (backend/ingest/giveway.py): with two
uploads or more in progress it waits, off the GIL, until a write transaction of this process commits — at
most GIVE_WAY_MAX_S per chunk; with one upload it never waits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from backend.db import make_engine
from backend.ingest import giveway, parsepool
from backend.sqlite_writers import HELD_HERE
from tests.test_sqlite_writers import _table, _writer_in_a_thread  # a write held in a thread (an upload's flush)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    database = tmp_path / "x.db"
    _table(database)
    return make_engine(f"sqlite:///{database}")


def test_with_two_uploads_the_receive_waits_for_the_writer_to_commit(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(giveway, "GIVE_WAY_MAX_S", 30.0)

    async def scenario() -> None:
        with parsepool.uploading(), parsepool.uploading(), _writer_in_a_thread(sqlite_engine) as finish:
            waiting = asyncio.ensure_future(giveway.give_way())
            await asyncio.sleep(0.2)
            assert not waiting.done()
            finish.set()
            await asyncio.wait_for(waiting, 10)
            assert not HELD_HERE.held

    asyncio.run(scenario())


def test_a_long_transaction_delays_a_chunk_by_at_most_the_limit(sqlite_engine: Engine) -> None:
    async def scenario() -> None:
        with parsepool.uploading(), parsepool.uploading(), _writer_in_a_thread(sqlite_engine):
            await asyncio.wait_for(giveway.give_way(), 10)  # GIVE_WAY_MAX_S (0.05 s), not the 30 s hold
            assert HELD_HERE.held

    asyncio.run(scenario())


def test_with_one_upload_the_receive_never_waits(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(giveway, "GIVE_WAY_MAX_S", 30.0)

    async def scenario() -> None:
        with parsepool.uploading(), _writer_in_a_thread(sqlite_engine):
            await asyncio.wait_for(giveway.give_way(), 1)
            assert HELD_HERE.held  # it went on while the writer still held the turn

    asyncio.run(scenario())
    assert parsepool.uploads_in_progress() == 0
