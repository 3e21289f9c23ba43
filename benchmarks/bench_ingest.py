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
  says why. SQLite for both (our embedded default, Orthanc's default index).

    python -m benchmarks.bench_ingest        (env: BENCH_INGEST_SLICES=300, BENCH_INGEST_RUNS=3,
                                              BENCH_INGEST_CLIENTS=1,2,4)
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

from backend.dicom.mime import encode_multipart, new_boundary, related_content_type
from benchmarks.httpload import HTTPLoadError, LoadResult, build_request, concurrent_requests

BENCH = "ingest"
ROOT = Path(__file__).resolve().parents[1]
BATCH = 25
NETNS = "BENCH_INGEST_NETNS"


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


@dataclass(frozen=True)
class Measured:
    mb_per_s: float
    client_cpu: float
    server_cores: float


def _measure(url: str, pid: int, requests: list[tuple[str, bytes]], clients: int, mb: float) -> Measured:
    before = _cpu_seconds(pid)
    result: LoadResult = concurrent_requests(base_url=url, requests=requests, clients=clients, timeout=600)
    server = _cpu_seconds(pid) - before
    return Measured(mb / result.wall, result.client_cpu, server / result.wall)


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
@contextmanager
def yunying(work: Path) -> Iterator[tuple[str, int, str]]:
    """A fresh `yunying serve` on SQLite (the embedded default): (url, pid, hospital key)."""
    data = work / f"yy-{time.monotonic_ns()}"
    env = {**os.environ, "YUNYING_DATA_DIR": str(data), "YUNYING_ENV": "development"}
    for name in ("YUNYING_DATABASE_URL", "YUNYING_STORAGE_URL", "YUNYING_BROKER_URL", "YUNYING_REDIS_URL"):
        env.pop(name, None)
    cli = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    created = subprocess.run([*cli, "institution", "create", "基准医院", "--json"], env=env, cwd=ROOT, check=True,
                             capture_output=True, text=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env["YUNYING_PUBLIC_URL"] = url
    with open(work / f"serve-{port}.log", "wb") as log:
        server = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(f"{url}/healthz", server)
            yield url, server.pid, json.loads(created.stdout)["api_key"]
        finally:
            _stop(server)
            shutil.rmtree(data, ignore_errors=True)


@contextmanager
def orthanc(work: Path) -> Iterator[tuple[str, int]]:
    """A fresh Orthanc (Debian package) with an empty SQLite index and storage: (url, pid)."""
    storage = work / f"orthanc-{time.monotonic_ns()}"
    port = _free_port()
    cfg = {"Name": "bench", "StorageDirectory": str(storage), "IndexDirectory": str(storage), "HttpPort": port,
           "DicomServerEnabled": False, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
           "Plugins": [], "StorageCompression": False, "HttpThreadsCount": 50}
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


def measure_ours(files: list[Path], warmup: list[Path], work: Path, clients: int, mb: float) -> Measured:
    with yunying(work) as (url, pid, key):
        host = url.removeprefix("http://")
        # a long-running server has its imports and parse processes ready: so does this one
        concurrent_requests(base_url=url, requests=stow_requests(warmup, host=host, key=key), clients=1)
        measured = _measure(url, pid, stow_requests(files, host=host, key=key), clients, mb)
        listed = httpx.get(f"{url}/dicomweb/instances", params={"limit": 5000}, timeout=60,
                           headers={"Authorization": f"Bearer {key}"}).json()
        if len(listed) != len(files) + len(warmup):
            raise RuntimeError(f"expected {len(files) + len(warmup)} instances, QIDO-RS lists {len(listed)}")
        return measured


def measure_orthanc(files: list[Path], warmup: list[Path], work: Path, clients: int, mb: float) -> Measured:
    """Orthanc occasionally answers 500 "Unable to create a subdirectory" when two requests race to make
    one storage folder (seen with concurrent clients on a fresh storage directory): that run is repeated
    on a fresh Orthanc, up to three times."""
    for attempt in range(3):
        with orthanc(work) as (url, pid):
            host = url.removeprefix("http://")
            concurrent_requests(base_url=url, requests=orthanc_requests(warmup, host=host), clients=1)
            try:
                return _measure(url, pid, orthanc_requests(files, host=host), clients, mb)
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


def measure(files: list[Path], warmup: list[Path], work: Path, *, runs: int, clients_list: list[int],
            with_orthanc: bool) -> None:
    mb = sum(p.stat().st_size for p in files) / 1e6
    version = None
    for clients in clients_list:
        ours: list[Measured] = []
        theirs: list[Measured] = []
        for _ in range(runs):  # interleaved: both see the same machine noise
            ours.append(measure_ours(files, warmup, work, clients, mb))
            if with_orthanc:
                theirs.append(measure_orthanc(files, warmup, work, clients, mb))
        _report("stow", clients, ours, instances=len(files), mb=round(mb, 1), batch=BATCH, database="sqlite")
        if theirs:
            if version is None:
                with orthanc(work) as (url, _):
                    version = httpx.get(f"{url}/system", timeout=10).json().get("Version")
            _report("orthanc_ingest", clients, theirs, orthanc=version, endpoint="POST /instances", database="sqlite")
            ratios = [a.mb_per_s / b.mb_per_s for a, b in zip(ours, theirs, strict=True)]
            emit(f"ratio_stow_vs_orthanc_{clients}client", statistics.median(ratios), "x", goal=1.2,
                 per_run=[round(r, 2) for r in ratios])


def _in_namespace(run: Callable[[], None]) -> bool:
    """Re-run this module inside a loopback-only network namespace; False when that is not possible."""
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


def run() -> None:
    from tools import synthetic

    slices = int(os.environ.get("BENCH_INGEST_SLICES", "300"))
    runs = max(3, int(os.environ.get("BENCH_INGEST_RUNS", "3")))
    clients_list = [int(c) for c in os.environ.get("BENCH_INGEST_CLIENTS", "1,2,4").split(",")]
    has_orthanc = shutil.which("Orthanc") is not None and shutil.which("unshare") is not None

    def go() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            work = Path(tmp)
            files = synthetic.write_ct_series(out_dir=work / "ct", seed=11, slices=slices, size=512)
            warmup = synthetic.write_ct_series(out_dir=work / "warmup", seed=12, slices=4, size=64)
            measure(files, warmup, work, runs=runs, clients_list=clients_list,
                    with_orthanc=has_orthanc and os.environ.get(NETNS) == "1")

    if has_orthanc and _in_namespace(go):
        return
    emit("orthanc_ingest_mb_per_s_1client", 0, "MB/s",
         skipped="Orthanc (Debian package orthanc) or a network namespace (unshare -n) is not available")
    go()


if __name__ == "__main__":
    run()
