"""Timeline reads at scale: one person with 2,000 records in a database of 1,000,000 records.

Builds a scratch database per backend (a temporary SQLite file; a ``yunying_bench_timeline`` database
next to ``YUNYING_BENCH_DATABASE_URL`` / the test PostgreSQL URL, dropped afterwards), migrates it,
bulk-loads generated timeline entries (executemany on SQLite, COPY on PostgreSQL — not through the API),
then measures in-process calls of ``records.service`` exactly as the timeline route makes them: a
read-only session, the access decision's filters, one page of 20, plus the per-kind/per-year counts
on the first page. Goal: p95 ≤ 30 ms.

Environment: ``BENCH_TIMELINE_TOTAL`` (default 1,000,000), ``BENCH_TIMELINE_PERSON`` (2,000),
``BENCH_TIMELINE_ITER`` (200), ``BENCH_TIMELINE_BACKENDS`` ("sqlite,postgresql"), ``BENCH_TIMELINE_KEEP``
(a directory: keep the generated databases and reuse them on the next run).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine, make_url

from backend import migrate
from backend.access.principals import OperatorPrincipal
from backend.access.service import PersonAccess
from backend.db import make_engine, session_scope
from backend.institutions.models import Institution
from backend.people.models import Person
from backend.records import service as records
from backend.records.models import TimelineEntry

BENCH = "timeline"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ["imaging_study", "lab_result", "lab_result", "checkup"]
KEY = b"k" * 32
START = datetime(2010, 1, 1, tzinfo=UTC)
SPAN_S = 16 * 365 * 86400


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _rows(*, total: int, person_ids: list[str], target: str, per_target: int, institutions: list[str],
          seed: int = 6) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for n in range(total):
        person = target if n < per_target else person_ids[n % len(person_ids)]
        kind = KINDS[n % len(KINDS)]
        at = START + timedelta(seconds=rng.randrange(SPAN_S))
        entry_id = f"{n:032x}"
        yield {
            "id": entry_id, "person_id": person, "kind": kind, "ref_id": entry_id, "occurred_at": at,
            "year": records.china_year(at), "sort_key": records.sort_key_for(occurred_at=at, entry_id=entry_id),
            "institution_id": institutions[n % len(institutions)], "local_patient_id": None,
            "title": "胸部CT平扫" if kind == "imaging_study" else "生化全套",
            "summary": "未见明显异常", "status": "final",
            "tags": " CT " if kind == "imaging_study" else " ", "data": "{}",
            "created_at": now, "updated_at": now,
        }


def _load(engine: Engine, *, total: int, per_target: int) -> str:
    """Generates the data set; returns the target person's id."""
    persons = max(total // 50, 10)
    person_ids = [f"{n:032x}" for n in range(1, persons + 1)]
    target = person_ids[0]
    institution_ids = [f"{n:032x}" for n in range(1, 21)]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(Institution), [{"id": i, "name": f"医院{n}", "created_at": now}
                                           for n, i in enumerate(institution_ids)])
        conn.execute(insert(Person), [{"id": p, "name": "张伟", "created_at": now, "updated_at": now}
                                      for p in person_ids])
    rows = _rows(total=total, person_ids=person_ids[1:], target=target, per_target=per_target,
                 institutions=institution_ids)
    if engine.dialect.name == "postgresql":
        _copy_pg(engine, rows)
    else:
        _insert_sqlite(engine, rows)
    # Statistics (and on PostgreSQL the visibility map index-only scans rely on), as autovacuum would
    # have them in production some minutes after a bulk load.
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE timeline_entry"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return target


def _insert_sqlite(engine: Engine, rows: Iterator[dict[str, Any]], chunk: int = 50_000) -> None:
    columns = list(TimelineEntry.__table__.columns.keys())  # type: ignore[attr-defined]
    # Column names come from the model, not from input.
    sql = f"INSERT INTO timeline_entry ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(_sqlite_value(row[c]) for c in columns))
            if len(batch) >= chunk:
                cursor.execute("BEGIN")
                cursor.executemany(sql, batch)
                cursor.execute("COMMIT")
                batch.clear()
        if batch:
            cursor.execute("BEGIN")
            cursor.executemany(sql, batch)
            cursor.execute("COMMIT")
    finally:
        raw.close()


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy's DateTime on SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC, as sqlmodel's UTCDateTime).
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _copy_pg(engine: Engine, rows: Iterator[dict[str, Any]]) -> None:
    columns = list(TimelineEntry.__table__.columns.keys())  # type: ignore[attr-defined]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY timeline_entry ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        raw.commit()
    finally:
        raw.close()


def _timed(fn: Callable[[], object], iterations: int) -> tuple[float, float]:
    for _ in range(5):
        fn()  # warm caches and the connection pool
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def _measure(engine: Engine, *, person_id: str, iterations: int) -> dict[str, tuple[float, float]]:
    access = PersonAccess(person_id=person_id, principal=OperatorPrincipal(), relation="self")
    unfiltered = records.TimelineFilters()
    filtered = records.TimelineFilters(kinds=("imaging_study",), modality="CT",
                                       date_from=date(2014, 1, 1), date_to=date(2022, 12, 31))
    import backend.studies.record_kind  # noqa: F401 - registers imaging_study for the kind filter

    def first_page() -> object:
        with session_scope(engine, readonly=True) as s:
            page = records.timeline(session=s, access=access, cursor_key=KEY, filters=unfiltered, limit=20)
            records.counts(session=s, access=access)
            return page

    with session_scope(engine, readonly=True) as s:
        page = records.timeline(session=s, access=access, cursor_key=KEY, filters=unfiltered, limit=20)
        for _ in range(20):  # a cursor deep into the timeline: page 21
            page = records.timeline(session=s, access=access, cursor_key=KEY, filters=unfiltered,
                                    cursor=page.next_cursor, limit=20)
        deep_cursor = page.next_cursor
        f_page = records.timeline(session=s, access=access, cursor_key=KEY, filters=filtered, limit=20)
        f_cursor = f_page.next_cursor
        # The measured queries must do real work: full pages of the right person and kind.
        assert len(page.entries) == 20
        assert all(e.person_id == person_id for e in page.entries)
        assert len(f_page.entries) == 20
        assert all(e.kind == "imaging_study" for e in f_page.entries)

    def next_page() -> object:
        with session_scope(engine, readonly=True) as s:
            return records.timeline(session=s, access=access, cursor_key=KEY, filters=unfiltered,
                                    cursor=deep_cursor, limit=20)

    def filtered_page() -> object:
        with session_scope(engine, readonly=True) as s:
            return records.timeline(session=s, access=access, cursor_key=KEY, filters=filtered,
                                    cursor=f_cursor, limit=20)

    return {"first_page": _timed(first_page, iterations), "deep_page": _timed(next_page, iterations),
            "filtered_page": _timed(filtered_page, iterations)}


def _emit(backend: str, total: int, per_target: int, metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 3), "unit": unit, "backend": backend,
                      "records": total, "person_records": per_target, **extra}), flush=True)


def _run_backend(backend: str, url: str, *, total: int, per_target: int, iterations: int, reuse: bool = False) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            loaded = conn.execute(text("SELECT count(*) FROM timeline_entry")).scalar_one()
        if reuse and loaded == total:  # BENCH_TIMELINE_KEEP: measure again without regenerating
            person_id = f"{1:032x}"
        else:
            started = time.perf_counter()
            person_id = _load(engine, total=total, per_target=per_target)
            _emit(backend, total, per_target, "load_s", time.perf_counter() - started, "s")
        for name, (p50, p95) in _measure(engine, person_id=person_id, iterations=iterations).items():
            _emit(backend, total, per_target, f"{name}_p50", p50, "ms")
            _emit(backend, total, per_target, f"{name}_p95", p95, "ms", goal_ms=30, ok=p95 <= 30)
    finally:
        engine.dispose()


def run() -> None:
    total = _env_int("BENCH_TIMELINE_TOTAL", 1_000_000)
    per_target = _env_int("BENCH_TIMELINE_PERSON", 2_000)
    iterations = _env_int("BENCH_TIMELINE_ITER", 200)
    backends = os.environ.get("BENCH_TIMELINE_BACKENDS", "sqlite,postgresql").split(",")
    keep = os.environ.get("BENCH_TIMELINE_KEEP")  # a directory: keep (and reuse) the generated databases
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="yy-bench-timeline-") as tmp:
            folder = Path(keep) if keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            _run_backend("sqlite", f"sqlite:///{folder / 'timeline.db'}", total=total, per_target=per_target,
                         iterations=iterations, reuse=bool(keep))
    if "postgresql" in backends:
        base = os.environ.get("YUNYING_BENCH_DATABASE_URL") or os.environ.get("YUNYING_TEST_DATABASE_URL") or PG_DEFAULT
        admin_url = make_url(base)
        name = "yunying_bench_timeline"
        admin = make_engine(admin_url.render_as_string(hide_password=False))
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                if exists and not keep:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                if not exists or not keep:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: say so, keep the SQLite figures
            print(json.dumps({"bench": BENCH, "metric": "skipped", "value": "postgresql", "unit": "",
                              "detail": type(exc).__name__}))
            admin.dispose()
            return
        try:
            _run_backend("postgresql", admin_url.set(database=name).render_as_string(hide_password=False),
                         total=total, per_target=per_target, iterations=iterations, reuse=bool(keep))
        finally:
            if not keep:
                with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    run()
