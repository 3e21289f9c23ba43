"""Object storage (issue 17): the same STOW-RS and WADO-RS on the local directory and on S3 (SeaweedFS
started here, tools/seaweed.py), and what one instance costs the database.

- ``ingest_local`` / ``ingest_s3`` (MB/s) and their ratio (goal ≥ 0.8): one STOW-RS request of a synthetic
  CT series (in process, TestClient), the same files on both stores;
- ``metadata_s3_requests``: S3 requests of WADO-RS ``/metadata`` of that series (goal ≤ 5), and its time;
- ``db_bytes_per_instance``: the instance table and its indexes divided by the instances stored
  (SQLite: ``SELECT SUM(pgsize) FROM dbstat WHERE name = 'imaging_instance' OR name LIKE
  'ix_imaging_instance%' OR name LIKE 'sqlite_autoindex_imaging_instance%'``; PostgreSQL with
  ``BENCH_PG_URL``: ``pg_total_relation_size('imaging_instance')``), and the average row
  (``avg(pg_column_size(imaging_instance.*))`` on PostgreSQL);
- ``object_bytes_per_instance``: originals plus the series metadata document, per instance;
- ``cold_render_local`` / ``cold_render_s3`` (images/s, ratio goal ≥ 0.8) and ``cache_hit_local`` /
  ``cache_hit_s3`` (p50, p99): WADO-RS ``/rendered`` of the first 60 instances, rendered inline.

Runs alternate local, S3, local, S3 … (``BENCH_STORAGE_RUNS``, at least 3), each on a fresh directory or
bucket, so both stores see the same machine noise; figures are medians, ratios the medians of per-run
ratios. Beside each figure: this process's CPU seconds (``client_cpu_s``: the service and its S3 client)
and, for S3, the SeaweedFS server's (``server_cpu_s``, from /proc): on a 2-core machine the object
store's own CPU competes with the service, which a production store on its own hosts does not.

    python -m benchmarks.bench_storage   (env: BENCH_STORAGE_SLICES=300, BENCH_STORAGE_SIZE=256,
                                          BENCH_STORAGE_RUNS=3, BENCH_PG_URL, BENCH_STORAGE_S3_PORT_BASE)
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BENCH = "storage"
RENDERS = 60


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit,
                      "load1": round(os.getloadavg()[0], 1), **extra}), flush=True)


def _body(paths: list[Path], boundary: str) -> bytes:
    return b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes() + b"\r\n"
                    for p in paths) + f"--{boundary}--\r\n".encode()


def _db_bytes(url: str) -> tuple[float, float | None, dict[str, float]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM imaging_instance")).scalar_one()
        if url.startswith("sqlite"):
            total = conn.execute(text(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = 'imaging_instance' OR name LIKE 'ix_imaging_instance%'"
                " OR name LIKE 'sqlite_autoindex_imaging_instance%'")).scalar_one()
            row, columns = None, {}
        else:
            total = conn.execute(text("SELECT pg_total_relation_size('imaging_instance')")).scalar_one()
            row = conn.execute(text("SELECT avg(pg_column_size(i.*)) FROM imaging_instance i")).scalar_one()
            names = conn.execute(text("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'imaging_instance'")).scalars().all()
            sizes = {n: float(conn.execute(text(f'SELECT avg(pg_column_size("{n}")) FROM imaging_instance'))  # noqa: S608
                              .scalar_one() or 0) for n in names}
            columns = dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:8])
    engine.dispose()
    return total / count, (float(row) if row is not None else None), columns


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (proc(5): fields 14-17)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _cpu(server: int | None) -> tuple[float, float]:
    """(this process's CPU seconds, the S3 server's) now."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime, _proc_cpu(server) if server else 0.0


def _cpu_since(server: int | None, before: tuple[float, float]) -> tuple[float, float]:
    now = _cpu(server)
    return now[0] - before[0], now[1] - before[1]


def _run(store: str, paths: list[Path], work: Path, s3_url: str | None, server: int | None = None) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from backend import migrate
    from backend.config import load_settings
    from backend.db import make_engine, session_scope
    from backend.institutions.service import create_institution
    from backend.main import create_app
    from backend.previews.cache import settle
    from backend.storage.service import open_store
    from backend.storage.signed import count_requests

    data = work / store
    pg = os.environ.get("BENCH_PG_URL")
    db_url = f"sqlite:///{data / 'yunying.db'}"
    if pg:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"yy_bench_storage_{uuid.uuid4().hex[:8]}"
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        db_url = make_url(pg).set(database=name).render_as_string(hide_password=False)
    data.mkdir(parents=True)
    migrate.upgrade(db_url)
    settings = load_settings(env="test", data_dir=data, database_url=db_url, public_url="http://testserver",
                             storage_url=s3_url)
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        key = create_institution(session=s, name="基准医院").api_key
    app = create_app(settings, engine=engine)
    app.state.preview_pool_size = None  # no pre-render pool: ingest alone is measured
    app.state.preview_dispatcher = False
    headers = {"Authorization": f"Bearer {key}",
               "Content-Type": 'multipart/related; type="application/dicom"; boundary=bench'}
    body = _body(paths, "bench")
    out: dict[str, Any] = {}
    with TestClient(app, base_url="http://testserver") as client:
        started, cpu = time.perf_counter(), _cpu(server)
        res = client.post("/dicomweb/studies", content=body, headers=headers)
        out["ingest_s"] = time.perf_counter() - started
        out["ingest_cpu"] = _cpu_since(server, cpu)
        assert res.status_code == 200, res.text[:300]
        import pydicom

        head = pydicom.dcmread(paths[0], stop_before_pixels=True)
        url = f"/dicomweb/studies/{head.StudyInstanceUID}/series/{head.SeriesInstanceUID}/metadata"
        counting = ExitStack()  # every request to S3: boto3's and the signed-URL GETs (storage/s3.py)
        seen: dict[str, int] = counting.enter_context(count_requests(open_store(s3_url))) if s3_url else {}
        started = time.perf_counter()
        meta = client.get(url, headers={"Authorization": f"Bearer {key}"})
        out["metadata_s"] = time.perf_counter() - started
        assert meta.status_code == 200
        assert len(meta.json()) == len(paths)
        out["metadata_requests"] = sum(seen.values())
        # previews: each instance's default rendering once cold (rendered and written to the store), then
        # from the cache; in process, rendered inline (no pool): the store's share is what differs
        uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths[:RENDERS]]
        rendered = [f"/dicomweb/studies/{head.StudyInstanceUID}/series/{head.SeriesInstanceUID}/instances/{u}/rendered"
                    for u in uids]
        accept = {"Authorization": f"Bearer {key}", "Accept": "image/jpeg"}
        seen.clear()
        started, cpu = time.perf_counter(), _cpu(server)
        for u in rendered:
            assert client.get(u, headers=accept).status_code == 200
        settle()  # the previews' PUTs that follow the answers (previews/cache.py write_behind) count too
        out["cold_s"] = time.perf_counter() - started
        out["cold_cpu"] = _cpu_since(server, cpu)
        out["cold_requests"] = dict(seen)
        counting.close()
        hits = []
        for u in rendered:
            t0 = time.perf_counter()
            assert client.get(u, headers=accept).status_code == 200
            hits.append(time.perf_counter() - t0)
        out["hits"] = sorted(hits)
        root = settings.storage
        out["object_bytes"] = sum(i.size for area in (root.originals, root.meta) for i in area.list())
        out["meta_bytes"] = sum(i.size for i in root.meta.list())
    out["db_bytes"], out["db_row"], out["db_columns"] = _db_bytes(db_url)
    engine.dispose()
    if pg:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return out


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _cpu_extra(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {"client_cpu_s": round(statistics.median(r[key][0] for r in runs), 3),
            "server_cpu_s": round(statistics.median(r[key][1] for r in runs), 3)}


def main() -> int:
    from tools.seaweed import SeaweedS3
    from tools.synthetic import write_ct_series

    slices = int(os.environ.get("BENCH_STORAGE_SLICES", "300"))
    size = int(os.environ.get("BENCH_STORAGE_SIZE", "256"))
    runs = max(3, int(os.environ.get("BENCH_STORAGE_RUNS", "3")))
    local: list[dict[str, Any]] = []
    s3: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="yy-bench-storage-") as tmp:
        work = Path(tmp)
        paths = write_ct_series(out_dir=work / "ct", seed=17, slices=slices, size=size)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        base = os.environ.get("BENCH_STORAGE_S3_PORT_BASE")  # eight ports from here; else free ones
        server = SeaweedS3(work / "seaweed", port_base=int(base) if base else None)
        server.start()
        os.environ.update(server.env())
        pid = server.process.pid if server.process else None
        try:
            for n in range(runs):  # alternating: both stores see the same machine noise
                local.append(_run(f"local-{n}", paths, work, None))
                s3.append(_run(f"s3-{n}", paths, work, f"s3://yy-bench-{uuid.uuid4().hex[:8]}/bench", pid))
        finally:
            server.stop()
    extra = {"instances": slices, "size": size, "megabytes": round(megabytes, 1), "runs": runs}
    emit("ingest_local", megabytes / _median(local, "ingest_s"), "MB/s", **_cpu_extra(local, "ingest_cpu"), **extra)
    emit("ingest_s3", megabytes / _median(s3, "ingest_s"), "MB/s", **_cpu_extra(s3, "ingest_cpu"), **extra)
    ratios = [a["ingest_s"] / b["ingest_s"] for a, b in zip(local, s3, strict=True)]
    emit("ingest_s3_vs_local", statistics.median(ratios), "ratio", goal=0.8,
         per_run=[round(r, 2) for r in ratios], **extra)
    last = s3[-1]
    emit("metadata_s3_requests", last["metadata_requests"], "requests", goal=5, **extra)
    emit("metadata_s3", _median(s3, "metadata_s") * 1000, "ms", local_ms=round(_median(local, "metadata_s") * 1000, 1),
         **extra)
    renders = min(RENDERS, slices)
    emit("cold_render_local", renders / _median(local, "cold_s"), "images/s", **_cpu_extra(local, "cold_cpu"), **extra)
    emit("cold_render_s3", renders / _median(s3, "cold_s"), "images/s", **_cpu_extra(s3, "cold_cpu"),
         s3_requests_per_image={k: round(v / renders, 2) for k, v in last["cold_requests"].items()}, **extra)
    ratios = [a["cold_s"] / b["cold_s"] for a, b in zip(local, s3, strict=True)]
    emit("cold_render_s3_vs_local", statistics.median(ratios), "ratio", goal=0.8,
         per_run=[round(r, 2) for r in ratios], **extra)
    for name, group in (("local", local), ("s3", s3)):
        hits = sorted(h for run in group for h in run["hits"])
        emit(f"cache_hit_{name}", hits[len(hits) // 2] * 1000, "ms p50",
             p99_ms=round(hits[min(len(hits) - 1, round(0.99 * (len(hits) - 1)))] * 1000, 2), requests=len(hits),
             **extra)
    emit("object_bytes_per_instance", last["object_bytes"] / slices, "bytes",
         series_document_bytes_per_instance=round(last["meta_bytes"] / slices, 1), **extra)
    first = local[0]
    emit("db_bytes_per_instance", first["db_bytes"], "bytes",
         database="postgresql" if os.environ.get("BENCH_PG_URL") else "sqlite",
         avg_row_bytes=round(first["db_row"], 1) if first["db_row"] else None,
         largest_columns={k: round(v, 1) for k, v in first["db_columns"].items()}, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
