"""Ingest over HTTP: the 300-slice 512×512 synthetic chest CT through our STOW-RS and through Orthanc's
``POST /instances``, same files, same light client, same run (issue 21).

- **The client** is ``benchmarks/httpload.py``: forked processes with one keep-alive raw socket each,
  every request's bytes (head and body) built before the clock starts, nothing parsed but the status
  and the length. Its CPU is printed beside every figure (``client_cpu_s``): the first version of this
  benchmark used httpx with a file read inside the timed loop, which cost 5–6× the CPU of this client
  and held Orthanc back more than it held us back.
- **Ours**: STOW-RS in batches of ``BATCH`` instances; **Orthanc**: one file per request, its documented
  way to receive files over HTTP. Clients 1, 2 and 4, each with its share of the requests.
- **Fresh servers for every measurement** (a re-upload of the same bytes is a cheap "already stored"),
  warmed with a small series first; runs interleaved ours / Orthanc, medians of ``BENCH_INGEST_RUNS``
  (≥ 3) with min/max; the ratio is the median of the per-run ratios.
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
        BENCH_INGEST_CLIENTS=1,2,4, BENCH_INGEST_SETUPS=sqlite,postgresql,s3, BENCH_INGEST_WORKERS=1,
        BENCH_INGEST_PG=postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql ("off": none),
        BENCH_INGEST_PG_PREFIX=bench_ingest)
"""

# ruff: noqa: S603, S607 - this benchmark starts our own CLI, Orthanc and iproute2/util-linux from PATH

from __future__ import annotations

import json
import os
import shutil
import socket
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
import psutil
from sqlalchemy.engine import make_url

from backend.dicom.mime import encode_multipart, new_boundary, related_content_type
from benchmarks.httpload import HTTPLoadError, LoadResult, build_request, concurrent_requests

BENCH = "ingest"
ROOT = Path(__file__).resolve().parents[1]
BATCH = 25
NETNS = "BENCH_INGEST_NETNS"
WORKERS = 1  # `yunying serve --workers` (BENCH_INGEST_WORKERS)


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _cpu_seconds(pid: int) -> float:
    """CPU of a server and every process under it (our parse pool; Orthanc has threads only)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def settle(pid: int, *, idle_cores: float = 0.05, timeout: float = 30.0) -> None:
    """Wait until the server and its children are idle: the warm-up series is pre-rendered 3 s after its
    upload (previews/worker.py DEBOUNCE), which started the render pool inside the measured upload."""
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        if (_cpu_seconds(pid) - before) / 0.5 < idle_cores:
            return


@dataclass(frozen=True)
class Measured:
    mb_per_s: float
    client_cpu: float
    server_cores: float


def measure_server(url: str, pid: int, requests: list[tuple[str, bytes]], clients: int, mb: float) -> Measured:
    before = _cpu_seconds(pid)
    result: LoadResult = concurrent_requests(base_url=url, requests=requests, clients=clients, timeout=600)
    server = _cpu_seconds(pid) - before
    return Measured(mb / result.wall, result.client_cpu, server / result.wall)


def reset_postgres(url: str) -> None:
    """Drop and create the database ``url`` names (a benchmark's own, e.g. bench_h1_ours): every
    measurement starts on an empty database, as on SQLite."""
    import psycopg

    parsed = make_url(url)
    name = parsed.database
    if not name or not name.startswith("bench"):
        raise ValueError(f"refusing to reset {name!r}: benchmark databases are named bench*")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


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


# -- the two servers ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    key: str  # the hospital's API key
    log: Path  # the server's output: one ``yunying.ingest.stages`` line per STOW-RS request

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")


@contextmanager
def yunying(work: Path, *, database_url: str | None = None, storage_url: str | None = None,
            workers: int = 1, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A fresh `yunying serve` (SQLite and the local directory unless told). A PostgreSQL database
    (a benchmark's own) is dropped and created first."""
    data = work / f"yy-{time.monotonic_ns()}"
    env = {**os.environ, "YUNYING_DATA_DIR": str(data), "YUNYING_ENV": "development"}
    for name in ("YUNYING_DATABASE_URL", "YUNYING_STORAGE_URL", "YUNYING_BROKER_URL", "YUNYING_REDIS_URL"):
        env.pop(name, None)
    if database_url:
        reset_postgres(database_url)
        env["YUNYING_DATABASE_URL"] = database_url
    if storage_url:
        env["YUNYING_STORAGE_URL"] = storage_url
    env.update(extra_env or {})
    cli = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    created = subprocess.run([*cli, "institution", "create", "基准医院", "--json"], env=env, cwd=ROOT, check=True,
                             capture_output=True, text=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env["YUNYING_PUBLIC_URL"] = url
    log_path = work / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        command = [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(f"{url}/healthz", server)
            yield Server(url, server.pid, json.loads(created.stdout)["api_key"], log_path)
        finally:
            _stop(server)
            shutil.rmtree(data, ignore_errors=True)


ORTHANC_PG_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so")  # Debian orthanc-postgresql


@contextmanager
def orthanc(work: Path, *, database_url: str | None = None) -> Iterator[tuple[str, int]]:
    """A fresh Orthanc (Debian package) with an empty index and storage: (url, pid). The index is
    SQLite (Orthanc's default) or, with ``database_url``, the orthanc-postgresql plugin on that
    database (dropped and created first); the files stay in the storage directory either way."""
    storage = work / f"orthanc-{time.monotonic_ns()}"
    port = _free_port()
    cfg: dict[str, Any] = {
        "Name": "bench", "StorageDirectory": str(storage), "IndexDirectory": str(storage), "HttpPort": port,
        "DicomServerEnabled": False, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "Plugins": [], "StorageCompression": False, "HttpThreadsCount": 50}
    if database_url:
        reset_postgres(database_url)
        uri = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        cfg["Plugins"] = [str(ORTHANC_PG_PLUGIN)]
        cfg["PostgreSQL"] = {"EnableIndex": True, "EnableStorage": False, "ConnectionUri": uri, "Lock": False}
    cfg_path = work / f"orthanc-{port}.json"
    cfg_path.write_text(json.dumps(cfg))
    with open(work / "orthanc.log", "ab") as log:
        proc = subprocess.Popen(["Orthanc", str(cfg_path)], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(f"http://127.0.0.1:{port}/system", proc)
            yield f"http://127.0.0.1:{port}", proc.pid
        finally:
            _stop(proc)
            shutil.rmtree(storage, ignore_errors=True)


def stage_costs(log: Path, *, skip: int, instances: int) -> dict[str, list[float]]:
    """Stage → [CPU ms, wall ms] per instance, from the server's ``yunying.ingest.stages`` lines after
    the first ``skip`` ones (the warm-up)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "yunying.ingest.stages" in line]
    totals: dict[str, list[float]] = {}
    for line in lines[skip:]:
        for field in line.split():
            name, _, value = field.partition("=")
            if "/" in value and name.isalpha():
                cpu, wall = (float(v) for v in value.split("/"))
                sums = totals.setdefault(name, [0.0, 0.0])
                sums[0] += cpu
                sums[1] += wall
    return {name: [round(cpu / instances, 2), round(wall / instances, 2)] for name, (cpu, wall) in totals.items()}


@dataclass(frozen=True)
class Ours:
    measured: Measured
    stages: dict[str, list[float]]


def measure_ours(files: list[Path], warmup: list[Path], work: Path, clients: int, mb: float, *,
                 database_url: str | None = None, storage_url: str | None = None, workers: int = 1) -> Ours:
    with yunying(work, database_url=database_url, storage_url=storage_url, workers=workers) as server:
        # a long-running server has its imports and parse threads ready: so does this one (one request
        # per worker process, one client each)
        for _ in range(workers):
            concurrent_requests(base_url=server.url, requests=stow_requests(warmup, host=server.host, key=server.key),
                                clients=1)
        time.sleep(3.5)  # the warm-up series' pre-rendering is due 3 s after its upload
        settle(server.pid)
        requests = stow_requests(files, host=server.host, key=server.key)
        measured = measure_server(server.url, server.pid, requests, clients, mb)
        listed = httpx.get(f"{server.url}/dicomweb/instances", params={"limit": 5000}, timeout=60,
                           headers={"Authorization": f"Bearer {server.key}"}).json()
        if len(listed) != len(files) + len(warmup):
            raise RuntimeError(f"expected {len(files) + len(warmup)} instances, QIDO-RS lists {len(listed)}")
        return Ours(measured, stage_costs(server.log, skip=workers, instances=len(files)))


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


def measure(files: list[Path], warmup: list[Path], work: Path, *, runs: int, clients_list: list[int],
            with_orthanc: bool, setups: list[Setup], workers: int) -> None:
    mb = sum(p.stat().st_size for p in files) / 1e6
    version = None
    for clients in clients_list:
        ours: dict[str, list[Ours]] = {s.name: [] for s in setups}
        theirs: dict[str, list[Measured]] = {s.name: [] for s in setups}
        for _ in range(runs):  # interleaved: every system sees the same machine noise
            for setup in setups:
                ours[setup.name].append(measure_ours(files, warmup, work, clients, mb, database_url=setup.database_url,
                                                     storage_url=setup.storage_url, workers=workers))
                if with_orthanc and setup.name != "s3":
                    theirs[setup.name].append(measure_orthanc(files, warmup, work, clients, mb,
                                                              database_url=setup.orthanc_database_url))
        for setup in setups:
            mine = [o.measured for o in ours[setup.name]]
            database = "postgresql" if setup.database_url else "sqlite"
            store = "s3" if setup.storage_url else "local"
            suffix = "" if setup.name == "sqlite" else f"_{setup.name}"
            _report(f"stow{suffix}", clients, mine, instances=len(files), mb=round(mb, 1), batch=BATCH,
                    database=database, store=store, workers=workers,
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
            warmup = synthetic.write_ct_series(out_dir=work / "warmup", seed=12, slices=4, size=64)
            with _object_store(work, "s3" in wanted) as s3_url:
                if s3_url:
                    setups.append(Setup("s3", storage_url=s3_url))
                measure(files, warmup, work, runs=runs, clients_list=clients_list, setups=setups, workers=workers,
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
