"""Ingest over HTTP: the 300-slice 512×512 synthetic chest CT through our STOW-RS and through Orthanc's
``POST /instances``, same files, same light client, same run (issue 21).

- **The client** is ``benchmarks/httpload.py``: forked processes with one keep-alive raw socket each,
  every request's bytes (head and body) built before the clock starts, nothing parsed but the status
  and the length. Its CPU is printed beside every figure (``client_cpu_s``): the first version of this
  benchmark used httpx with a file read inside the timed loop, which cost 5–6× the CPU of this client
  and held Orthanc back more than it held us back.
- **Ours**: STOW-RS in batches of ``BATCH`` instances, one ``yunying serve`` worker with one parse process
  (``YUNYING_PARSE_PROCESSES=1``: the ingest deployment docs/ingest.md documents, measured there against
  none); **Orthanc**: one file per request, its documented
  way to receive files over HTTP. Clients 1, 2 and 4, each with its share of the requests.
- **Fresh servers for every measurement** (a re-upload of the same bytes is a cheap "already stored"),
  warmed with a small series first (ours: one new study per worker process, ``warmup_series``); runs
  interleaved ours / Orthanc, Orthanc first in every second run; medians of ``BENCH_INGEST_RUNS`` (≥ 3)
  with min/max; the ratio is the median of the per-run ratios.
- **Server CPU** (``server_cores``: CPU seconds of the server and its child processes over the wall
  time) shows whether a server uses the second core.
- Orthanc 1.10 listens on every interface whatever its configuration: the whole benchmark re-runs itself
  inside a fresh network namespace with only loopback (``unshare -n``), both servers and all clients
  inside. Without Orthanc or the rights for a namespace, ours is measured alone and a ``skipped`` line
  says why.
- **Three setups**, interleaved within each run: SQLite for both (our embedded default, Orthanc's default
  index); PostgreSQL for both (ours, and Orthanc with the Debian ``orthanc-postgresql`` index plugin), each
  on a database of its own that is dropped and created for every measurement (``<prefix>_ours``,
  ``<prefix>_orthanc``), reached through the server's Unix socket, which the network namespace does not
  hide; and ours on the object store (SeaweedFS, ``tools/seaweed.py``, ``YUNYING_STORAGE_URL``) against
  ours on the local directory. A setup that cannot run prints a ``skipped`` line with the reason.
- **Per-stage costs**: each STOW-RS request logs its stages' CPU and wall ms (backend/ingest/stages.py);
  they are summed per instance and printed beside our figures (``stages_cpu_wall_ms_per_instance``).

    python -m benchmarks.bench_ingest        (env: BENCH_INGEST_SLICES=300, BENCH_INGEST_RUNS=3,
        BENCH_INGEST_CLIENTS=1,2,4, BENCH_INGEST_SETUPS=sqlite,postgresql,s3, BENCH_INGEST_WORKERS=2,
        BENCH_INGEST_PARSE_PROCESSES=1,
        BENCH_INGEST_PG=postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql ("off": none),
        BENCH_INGEST_PG_PREFIX=bench_ingest)
"""

# ruff: noqa: S607 - this benchmark starts iproute2/util-linux from PATH

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from backend.dicom.mime import encode_multipart, new_boundary, related_content_type
from benchmarks.httpload import HTTPLoadError, build_request, concurrent_requests
from benchmarks.ingest_servers import (
    ORTHANC_PG_PLUGIN,
    Measured,
    Server,
    measure_server,
    orthanc,
    settle,
    stage_costs,
    yunying,
)

BENCH = "ingest"
ROOT = Path(__file__).resolve().parents[1]
BATCH = 25
NETNS = "BENCH_INGEST_NETNS"
WORKERS = 2  # `yunying serve --workers` (BENCH_INGEST_WORKERS): connections dealt in turn (docs/ingest.md)
PARSE_PROCESSES = 1  # YUNYING_PARSE_PROCESSES of our server (BENCH_INGEST_PARSE_PROCESSES); docs/ingest.md round 2


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}), flush=True)


# -- requests, built before any clock ---------------------------------------------------------------------
def stow_requests(files: list[Path], *, host: str, key: str) -> list[tuple[str, bytes]]:
    out = []
    for start in range(0, len(files), BATCH):
        boundary = new_boundary()
        body = b"".join(encode_multipart(files[start:start + BATCH], boundary=boundary))
        out.append((f"STOW batch {start // BATCH}", build_request(
            method="POST", target="/dicomweb/studies", host=host, body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": related_content_type(boundary),
                     "Accept": "application/dicom+json"})))
    return out


def orthanc_requests(files: list[Path], *, host: str) -> list[tuple[str, bytes]]:
    return [(f"POST /instances {path.name}", build_request(
        method="POST", target="/instances", host=host, body=path.read_bytes(),
        headers={"Content-Type": "application/dicom"})) for path in files]


@dataclass(frozen=True)
class Ours:
    measured: Measured
    stages: dict[str, list[float]]


def warmup_series(work: Path, *, workers: int) -> list[list[Path]]:
    """A small series of its own per worker process (seeds 12, 13 …; the measured series is seed 11). The same
    series sent to each worker warmed only the first: the others found every instance already stored, so the
    store and index path (and the statements SQLAlchemy compiles once per engine) first ran inside the
    measured upload (docs/ingest.md round 11)."""
    from tools import synthetic

    return [synthetic.write_ct_series(out_dir=work / f"warmup-{n}", seed=12 + n, slices=4, size=64)
            for n in range(max(1, workers))]


def warm_up(server: Server, warmups: list[list[Path]]) -> None:
    """Each warm-up series on a connection of its own: connections are dealt to the workers in turn, so
    series n reaches worker n."""
    for series in warmups:
        concurrent_requests(base_url=server.url, requests=stow_requests(series, host=server.host, key=server.key),
                            clients=1)


def measure_ours(files: list[Path], warmups: list[list[Path]], work: Path, clients: int, mb: float, *,
                 database_url: str | None = None, storage_url: str | None = None, workers: int = 1,
                 parse_processes: int = 0) -> Ours:
    with yunying(work, database_url=database_url, storage_url=storage_url, workers=workers,
                 extra_env={"YUNYING_PARSE_PROCESSES": str(parse_processes)}) as server:
        warmed = warmups[:workers]
        # a long-running server has its imports, parse threads and compiled statements ready: so does this one
        warm_up(server, warmed)
        time.sleep(3.5)  # the warm-up series' pre-rendering is due 3 s after its upload
        settle(server.pid)
        requests = stow_requests(files, host=server.host, key=server.key)
        measured = measure_server(server.url, server.pid, requests, clients, mb)
        listed = httpx.get(f"{server.url}/dicomweb/instances", params={"limit": 5000}, timeout=60,
                           headers={"Authorization": f"Bearer {server.key}"}).json()
        expected = len(files) + sum(len(series) for series in warmed)
        if len(listed) != expected:
            raise RuntimeError(f"expected {expected} instances, QIDO-RS lists {len(listed)}")
        return Ours(measured, stage_costs(server.log, skip=len(warmed), instances=len(files)))


def measure_orthanc(files: list[Path], warmup: list[Path], work: Path, clients: int, mb: float, *,
                    database_url: str | None = None) -> Measured:
    """Orthanc occasionally answers 500 "Unable to create a subdirectory" when two requests race to make
    one storage folder (seen with concurrent clients on a fresh storage directory): that run is repeated
    on a fresh Orthanc, up to three times."""
    for attempt in range(3):
        with orthanc(work, database_url=database_url) as (url, pid):
            host = url.removeprefix("http://")
            concurrent_requests(base_url=url, requests=orthanc_requests(warmup, host=host), clients=1)
            settle(pid)
            try:
                return measure_server(url, pid, orthanc_requests(files, host=host), clients, mb)
            except HTTPLoadError as exc:
                if "subdirectory" not in str(exc) or attempt == 2:
                    raise
    raise AssertionError("unreachable")


# -- main -----------------------------------------------------------------------------------------------
def _spread(values: list[float]) -> dict[str, Any]:
    return {"min": round(min(values), 1), "max": round(max(values), 1), "runs": len(values)}


def _report(name: str, clients: int, runs: list[Measured], **extra: Any) -> None:
    rates = [m.mb_per_s for m in runs]
    emit(f"{name}_mb_per_s_{clients}client", statistics.median(rates), "MB/s", **_spread(rates),
         client_cpu_s=round(statistics.median(m.client_cpu for m in runs), 3),
         server_cores=round(statistics.median(m.server_cores for m in runs), 2), **extra)


def _median_stages(runs: list[Ours]) -> dict[str, list[float]]:
    names = list(dict.fromkeys(name for run in runs for name in run.stages))
    return {name: [round(statistics.median(r.stages.get(name, [0.0, 0.0])[i] for r in runs), 2) for i in (0, 1)]
            for name in names}


@dataclass(frozen=True)
class Setup:
    """One comparison: ours on a database and a store against Orthanc on the matching index (or, for
    the object store, against ours on the local directory in the same run)."""

    name: str  # sqlite | postgresql | s3
    database_url: str | None = None
    orthanc_database_url: str | None = None
    storage_url: str | None = None


def measure(files: list[Path], warmups: list[list[Path]], work: Path, *, runs: int, clients_list: list[int],
            with_orthanc: bool, setups: list[Setup], workers: int, parse_processes: int = 0) -> None:
    mb = sum(p.stat().st_size for p in files) / 1e6
    version = None
    for clients in clients_list:
        ours: dict[str, list[Ours]] = {s.name: [] for s in setups}
        theirs: dict[str, list[Measured]] = {s.name: [] for s in setups}
        for run in range(runs):  # interleaved: every system sees the same machine noise
            for setup in setups:
                # who goes first alternates run by run: the first of a pair also meets what the server before
                # it left behind (its freed page cache, the writeback of its deleted files)
                order = ("ours", "orthanc") if run % 2 == 0 else ("orthanc", "ours")
                for system in order:
                    if system == "ours":
                        ours[setup.name].append(measure_ours(
                            files, warmups, work, clients, mb, database_url=setup.database_url,
                            storage_url=setup.storage_url, workers=workers, parse_processes=parse_processes))
                    elif with_orthanc and setup.name != "s3":
                        theirs[setup.name].append(measure_orthanc(files, warmups[0], work, clients, mb,
                                                                  database_url=setup.orthanc_database_url))
        for setup in setups:
            mine = [o.measured for o in ours[setup.name]]
            database = "postgresql" if setup.database_url else "sqlite"
            store = "s3" if setup.storage_url else "local"
            suffix = "" if setup.name == "sqlite" else f"_{setup.name}"
            _report(f"stow{suffix}", clients, mine, instances=len(files), mb=round(mb, 1), batch=BATCH,
                    database=database, store=store, workers=workers, parse_processes=parse_processes,
                    cpu_ms_per_instance=round(statistics.median(
                        m.server_cores * (mb / m.mb_per_s) * 1000 / len(files) for m in mine), 2),
                    stages_cpu_wall_ms_per_instance=_median_stages(ours[setup.name]))
            if setup.name == "s3":
                local = [o.measured for o in ours.get("sqlite", [])]
                if local:
                    ratios = [a.mb_per_s / b.mb_per_s for a, b in zip(mine, local, strict=True)]
                    emit(f"ratio_stow_s3_vs_local_{clients}client", statistics.median(ratios), "x",
                         per_run=[round(r, 2) for r in ratios], database="sqlite")
                continue
            if not theirs[setup.name]:
                continue
            if version is None:
                with orthanc(work) as (url, _):
                    version = httpx.get(f"{url}/system", timeout=10).json().get("Version")
            _report(f"orthanc_ingest{suffix}", clients, theirs[setup.name], orthanc=version,
                    endpoint="POST /instances", database=database)
            ratios = [a.mb_per_s / b.mb_per_s for a, b in zip(mine, theirs[setup.name], strict=True)]
            emit(f"ratio_stow_vs_orthanc{suffix}_{clients}client", statistics.median(ratios), "x", goal=1.2,
                 per_run=[round(r, 2) for r in ratios], database=database,
                 client_cpu_s={"ours": round(statistics.median(m.client_cpu for m in mine), 3),
                               "orthanc": round(statistics.median(m.client_cpu for m in theirs[setup.name]), 3)})


def _in_namespace(run: Callable[[], None]) -> bool:
    """Re-run this module inside a loopback-only network namespace; False when that is not possible.
    PostgreSQL is reached there through its Unix socket (a file, not a network address)."""
    if os.environ.get(NETNS) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        run()
        return True
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        return False
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", "benchmarks.bench_ingest"], cwd=ROOT,
                          env={**os.environ, NETNS: "1"}, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"the benchmark inside the network namespace failed ({done.returncode})")
    return True


def _postgres_setup() -> tuple[Setup | None, str | None]:
    """The PostgreSQL comparison when BENCH_INGEST_PG (a libpq URL of the server, no database: the
    benchmark creates ``bench_ingest_ours`` and ``bench_ingest_orthanc`` there; default the local Unix
    socket) answers and the orthanc-postgresql plugin is installed; else None and why."""
    base = os.environ.get("BENCH_INGEST_PG", "postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql")
    if base in ("", "0", "off"):
        return None, "BENCH_INGEST_PG is off"
    url = make_url(base)
    try:
        import psycopg

        psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                        connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL rows, said so
        return None, f"PostgreSQL at {url.render_as_string()} does not answer ({type(exc).__name__})"
    if not ORTHANC_PG_PLUGIN.exists():
        return None, "the orthanc-postgresql plugin (Debian package orthanc-postgresql) is not installed"
    prefix = os.environ.get("BENCH_INGEST_PG_PREFIX", "bench_ingest")
    ours = url.set(database=f"{prefix}_ours").render_as_string(hide_password=False)
    theirs = url.set(database=f"{prefix}_orthanc").render_as_string(hide_password=False)
    return Setup("postgresql", database_url=ours, orthanc_database_url=theirs), None


def run() -> None:
    from tools import synthetic

    slices = int(os.environ.get("BENCH_INGEST_SLICES", "300"))
    runs = max(3, int(os.environ.get("BENCH_INGEST_RUNS", "3")))
    clients_list = [int(c) for c in os.environ.get("BENCH_INGEST_CLIENTS", "1,2,4").split(",")]
    workers = int(os.environ.get("BENCH_INGEST_WORKERS", str(WORKERS)))
    parse_processes = int(os.environ.get("BENCH_INGEST_PARSE_PROCESSES", str(PARSE_PROCESSES)))
    wanted = os.environ.get("BENCH_INGEST_SETUPS", "sqlite,postgresql,s3").split(",")
    has_orthanc = shutil.which("Orthanc") is not None and shutil.which("unshare") is not None

    def go() -> None:
        setups = [Setup("sqlite")] if "sqlite" in wanted else []
        if "postgresql" in wanted:
            pg, why = _postgres_setup()
            if pg is None:
                emit("stow_postgresql_mb_per_s_1client", 0, "MB/s", skipped=why)
            else:
                setups.append(pg)
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            work = Path(tmp)
            files = synthetic.write_ct_series(out_dir=work / "ct", seed=11, slices=slices, size=512)
            warmups = warmup_series(work, workers=workers)
            with _object_store(work, "s3" in wanted) as s3_url:
                if s3_url:
                    setups.append(Setup("s3", storage_url=s3_url))
                measure(files, warmups, work, runs=runs, clients_list=clients_list, setups=setups, workers=workers,
                        parse_processes=parse_processes,
                        with_orthanc=has_orthanc and os.environ.get(NETNS) == "1")

    if has_orthanc and _in_namespace(go):
        return
    emit("orthanc_ingest_mb_per_s_1client", 0, "MB/s",
         skipped="Orthanc (Debian package orthanc) or a network namespace (unshare -n) is not available")
    go()


@contextmanager
def _object_store(work: Path, wanted: bool) -> Iterator[str | None]:
    """SeaweedFS (tools/seaweed.py) on loopback for the object-store row: the bucket URL, or None."""
    if not wanted:
        yield None
        return
    from tools.seaweed import SeaweedS3, weed_binary

    try:
        weed_binary()
    except FileNotFoundError as exc:
        emit("stow_s3_mb_per_s_1client", 0, "MB/s", skipped=str(exc))
        yield None
        return
    server = SeaweedS3(work / "seaweed")
    server.start()
    saved = {name: os.environ.get(name) for name in server.env()}
    os.environ.update(server.env())
    try:
        yield f"s3://yy-bench-ingest-{os.getpid()}/originals"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    run()
