"""The servers the ingest benchmark and profile start, fresh for every measurement: `yunying serve`
(SQLite or a PostgreSQL database of the benchmark's own, the local directory or S3) and Orthanc (SQLite or
the orthanc-postgresql index plugin); their CPU (psutil, children included) and the per-stage costs our
server logs (backend/ingest/stages.py). See benchmarks/bench_ingest.py for the method.
"""

# ruff: noqa: S603, S607 - starts our own CLI and Orthanc from PATH

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy.engine import make_url

from benchmarks.httpload import LoadResult, concurrent_requests

ROOT = Path(__file__).resolve().parents[1]


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
    """Drop and create the database ``url`` names (a benchmark's own, e.g. bench_ingest_ours or, with a
    prefix of one's own, hi_bench_ours): every measurement starts on an empty database, as on SQLite."""
    import psycopg

    parsed = make_url(url)
    name = parsed.database
    if not name or "bench" not in name.split("_")[:2]:
        raise ValueError(f"refusing to reset {name!r}: benchmark databases are named [prefix_]bench_*")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


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
