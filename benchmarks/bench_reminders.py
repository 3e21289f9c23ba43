"""The daily follow-up notice job (``reminders.service.send_due``) as the number of persons grows.

Before issue 19's second round the job walked every person's imaging timeline once a day; now it
selects due, open, un-notified reminder rows through the ``due`` index. Builds a scratch SQLite
database (migrated), bulk-loads ``BENCH_REMINDERS_PERSONS`` persons (default 20,000), each with three
imaging timeline entries and one stored reminder due years ago (nothing due on the measured day), plus
``BENCH_REMINDERS_DUE`` (200) reminders due on that day, with no account to tell (the job still reads
each row and asks who may read it). Reported: the job's wall and CPU time with nothing due, and with the
due rows, beside a reference measured in the same run — one indexed read of every person's imaging
entries, the least the previous design did per day — and the SQL statements of the quiet run.

    .venv/bin/python -c "from benchmarks import bench_reminders; bench_reminders.run()"
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

BENCH = "reminders"
DAY = date(2031, 1, 1)


def _emit(metric: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 3), "unit": unit, **extra}))


def _timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``runs`` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _load(engine: sa.engine.Engine, persons: int, due: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.connect() as conn:
        # Scratch rows: the job never reads the studies, so none are made (outside a transaction, where
        # SQLite honours the pragma; on again before the job runs).
        conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            _insert(conn, persons, due, now)
        conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _insert(conn: sa.engine.Connection, persons: int, due: int, now: datetime) -> None:
    conn.execute(sa.text("INSERT INTO person (id, name, created_at, updated_at) VALUES (:id, :n, :t, :t)"),
                 [{"id": f"p{i:08d}", "n": "测试", "t": now} for i in range(persons)])
    entries = []
    for i in range(persons):
        for j in range(3):
            at = datetime(2015 + j, 3, 1, tzinfo=UTC)
            entries.append({"id": f"e{i:08d}{j}", "p": f"p{i:08d}", "r": f"s{i:08d}{j}", "at": at, "y": at.year,
                            "k": f"{at:%Y%m%d%H%M%S}e{i:08d}{j}", "t": now})
    conn.execute(sa.text(
        "INSERT INTO timeline_entry (id, person_id, kind, ref_id, occurred_at, year, sort_key, title, summary,"
        " tags, data, created_at, updated_at) VALUES (:id, :p, 'imaging_study', :r, :at, :y, :k, '胸部CT平扫',"
        " '', ' ', '{}', :t, :t)"), entries)
    rows = [{"s": f"s{i:08d}0", "p": f"p{i:08d}", "d": date(2018, 3, 1), "t": now} for i in range(persons)]
    rows += [{"s": f"due{i:06d}", "p": f"p{i % persons:08d}", "d": DAY - timedelta(days=i % 20), "t": now}
             for i in range(due)]
    conn.execute(sa.text("INSERT INTO followup_reminder (study_id, person_id, due, days, phrase, updated_at)"
                         " VALUES (:s, :p, :d, 365, '12个月后复查', :t)"), rows)


def run() -> None:
    from backend import plugins
    from backend.db import make_engine
    from backend.migrate import upgrade
    from backend.reminders import models
    from backend.reminders.service import send_due

    persons = int(os.environ.get("BENCH_REMINDERS_PERSONS", "20000"))
    due = int(os.environ.get("BENCH_REMINDERS_DUE", "200"))
    with tempfile.TemporaryDirectory(prefix="yunying-bench-reminders-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        plugins.install()
        engine = make_engine(url)
        _load(engine, persons, due)
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda _c, _k, s, *_a: statements.append(s))

        def walk() -> None:  # the reference: every person's imaging entries, read once by the index
            with engine.connect() as conn:
                for (pid,) in conn.execute(sa.text("SELECT id FROM person")).all():
                    conn.execute(sa.text("SELECT id, ref_id, title FROM timeline_entry WHERE kind = 'imaging_study'"
                                         " AND person_id = :p ORDER BY sort_key DESC"), {"p": pid}).all()

        ref_wall, ref_cpu = _timed(walk, 3)
        statements.clear()
        quiet_wall, quiet_cpu = _timed(lambda: send_due(engine=engine, today=DAY + timedelta(days=400)), 5)
        quiet_statements = len(statements) / 5
        busy_wall, busy_cpu = _timed(lambda: send_due(engine=engine, today=DAY), 1)  # marks the due rows notified
        with engine.connect() as conn:
            notified = conn.execute(sa.select(sa.func.count()).select_from(models.FollowupReminder).where(
                models.FollowupReminder.notified_at.is_not(None))).scalar_one()  # type: ignore[union-attr]
    common = {"persons": persons, "backend": "sqlite"}
    _emit("reference_walk_ms", ref_wall, "ms", cpu_ms=round(ref_cpu, 1), **common)
    _emit("send_due_nothing_due_ms", quiet_wall, "ms", cpu_ms=round(quiet_cpu, 1), statements=quiet_statements,
          ratio_to_reference=round(quiet_wall / ref_wall, 5), **common)
    _emit("send_due_with_due_rows_ms", busy_wall, "ms", cpu_ms=round(busy_cpu, 1), due_rows=due, notified=notified,
          ratio_to_reference=round(busy_wall / ref_wall, 4), **common)


if __name__ == "__main__":
    run()
