"""The audit log is append-only and hash-chained: any edit, removal or truncation is detected,
by the library and by `yunying audit verify`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from backend.access import audit
from backend.access.principals import AccountPrincipal, OperatorPrincipal
from backend.config import Settings
from backend.db import session_scope

ALICE = AccountPrincipal(account_id="a" * 32)


def _write_events(engine: Engine, n: int, *, person_id: str = "p1") -> None:
    for i in range(n):
        with session_scope(engine) as session:
            audit.record(
                session,
                principal=ALICE,
                action=audit.READ,
                event_type="study.read",
                person_id=person_id,
                object_type="study",
                object_id=f"s{i}",
                detail={"n": i},
            )


def _verify(engine: Engine) -> audit.ChainReport:
    with session_scope(engine, readonly=True) as session:
        return audit.verify_chain(session)


def _cli_verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "YUNYING_DATA_DIR": str(settings.data_dir),
        "YUNYING_DATABASE_URL": settings.effective_database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )


def test_events_are_written_on_commit_and_chained(engine: Engine) -> None:
    _write_events(engine, 5)
    report = _verify(engine)
    assert report.ok and report.events == 5


def test_events_of_a_rolled_back_unit_are_not_written(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        audit.record(session, principal=ALICE, action=audit.READ, event_type="study.read")
        raise RuntimeError("the work failed")
    assert _verify(engine).events == 0


def test_edited_row_breaks_the_chain_and_the_cli_says_so(engine: Engine, settings: Settings) -> None:
    _write_events(engine, 4)
    assert _cli_verify(settings).returncode == 0
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = 2"))
    report = _verify(engine)
    assert not report.ok and report.seq == 2
    result = _cli_verify(settings)
    assert result.returncode == 1
    assert "row 2 was changed" in result.stderr


@pytest.mark.parametrize(("where", "problem"), [("seq = 2", "row 2 is missing"), ("seq = 4", "head says row 4")])
def test_removed_rows_break_the_chain(engine: Engine, where: str, problem: str) -> None:
    _write_events(engine, 4)
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM audit_event WHERE {where}"))
    report = _verify(engine)
    assert not report.ok
    assert problem in (report.problem or "")


def test_recomputed_hash_after_edit_still_detected_by_the_next_link(engine: Engine) -> None:
    # Someone edits row 2 *and* fixes its hash: row 3 no longer links to it.
    _write_events(engine, 3)
    with session_scope(engine) as session:
        row = session.get(audit.AuditEvent, 2)
        assert row is not None
        row.object_id = "forged"
        row.hash = audit.chain_hash(row)
        session.add(row)
    report = _verify(engine)
    assert not report.ok and report.seq == 3


def test_concurrent_writers_keep_one_unbroken_chain(engine: Engine) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _write_events(engine, 10)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = _verify(engine)
    assert report.ok and report.events == 40


def test_operator_events_carry_actor_and_request_facts(engine: Engine) -> None:
    with session_scope(engine) as session:
        audit.record(session, principal=OperatorPrincipal(), action=audit.EXECUTE, event_type="demo.seed")
    with session_scope(engine, readonly=True) as session:
        row = session.get(audit.AuditEvent, 1)
    assert row is not None
    assert (row.actor_kind, row.actor_id, row.action, row.prev_hash) == ("operator", "operator", "E", audit.GENESIS)
