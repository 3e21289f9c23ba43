"""Ingest over HTTP: the 300-slice 512×512 synthetic chest CT through STOW-RS on loopback, and
Orthanc's ``POST /instances`` on the same files in the same run.

What runs, per measured run (medians of BENCH_INGEST_RUNS >= 3, min/max alongside):
- a fresh data dir, ``yunying migrate``, ``yunying institution create`` and ``yunying serve`` (one
  process, SQLite: the embedded default) on a free loopback port;
- one client: the files in STOW-RS requests of 50 instances, streamed from disk;
- two clients: the files split in two halves, uploaded at the same time (same study, so the
  unique-key races of concurrent ingest are exercised too).
A fresh server per run, because a re-upload of the same bytes is a cheap "already stored" (and the
blob store is content-addressed) — that would not measure ingest.

Orthanc 1.10 listens on every interface whatever its configuration, so it runs inside a fresh network
namespace with only loopback (``unshare -n``; RemoteAccessAllowed false), and so do the clients that
measure it. Each Orthanc run starts with an empty storage directory. Without Orthanc, or without the
rights for a namespace, a ``skipped`` reference line is printed instead.

    python -m benchmarks.bench_ingest        (env: BENCH_INGEST_SLICES=300, BENCH_INGEST_RUNS=3)
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
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

BENCH = "ingest"
ROOT = Path(__file__).resolve().parents[1]
BATCH = 50
ORTHANC_REFERENCE = "issue 3: Orthanc did about 180 MB/s with one client on this kind of machine"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spread(values: list[float]) -> dict[str, Any]:
    return {"min": round(min(values), 1), "max": round(max(values), 1), "runs": len(values)}


def _wait(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _stow_body(files: list[Path], boundary: str) -> Iterator[bytes]:
    for path in files:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        with path.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def upload_stow(url: str, key: str, files: list[Path]) -> None:
    boundary = "bench-ingest-boundary"
    headers = {"Authorization": f"Bearer {key}",
               "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
    with httpx.Client(timeout=300) as client:
        for start in range(0, len(files), BATCH):
            response = client.post(f"{url}/dicomweb/studies", content=_stow_body(files[start:start + BATCH], boundary),
                                   headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"STOW-RS answered {response.status_code}: {response.text[:300]}")


def timed_parallel(upload: Callable[[list[Path]], None], files: list[Path], clients: int) -> float:
    """Seconds for `clients` threads to upload their share of the files concurrently."""
    shares = [files[i::clients] for i in range(clients)]
    errors: list[BaseException] = []

    def work(share: list[Path]) -> None:
        try:
            upload(share)
        except BaseException as exc:  # noqa: BLE001 - reported after join
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


# -- Yunying ------------------------------------------------------------------------------------------
def yunying_run(files: list[Path], work: Path, clients: int, warmup: list[Path] | None = None) -> float:
    warmup = warmup or []
    data = work / f"yy-{time.monotonic_ns()}"
    env = {**os.environ, "YUNYING_DATA_DIR": str(data), "YUNYING_ENV": "development"}
    env.pop("YUNYING_DATABASE_URL", None)
    cli = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    created = subprocess.run([*cli, "institution", "create", "基准医院", "--json"], env=env, cwd=ROOT, check=True,
                             capture_output=True, text=True)
    key = json.loads(created.stdout)["api_key"]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env["YUNYING_PUBLIC_URL"] = url
    log = open(work / f"serve-{port}.log", "wb")
    server = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(f"{url}/healthz", server)
        if warmup:  # a long-running server has its imports and worker processes ready: so does this one
            upload_stow(url, key, warmup)
        seconds = timed_parallel(lambda share: upload_stow(url, key, share), files, clients)
        check = httpx.get(f"{url}/dicomweb/instances", params={"limit": 1000},
                          headers={"Authorization": f"Bearer {key}"}, timeout=60)
        if len(check.json()) != len(files) + len(warmup):
            raise RuntimeError(f"expected {len(files)} instances, QIDO lists {len(check.json())}")
        return seconds
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


# -- Orthanc ------------------------------------------------------------------------------------------
def orthanc_child(config: dict[str, Any]) -> None:
    """Runs inside the network namespace: one fresh Orthanc per run, POST /instances, print JSON lines."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = Path(config["work"])
    files = [Path(p) for p in config["files"]]
    port = 8042
    version = None
    for clients in (1, 2):
        seconds: list[float] = []
        for run in range(config["runs"]):
            storage = work / f"orthanc-{clients}-{run}"
            cfg = {"Name": "bench", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
                   "HttpPort": port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
                   "AuthenticationEnabled": False, "Plugins": [], "StorageCompression": False,
                   "HttpThreadsCount": 50}
            cfg_path = work / "orthanc.json"
            cfg_path.write_text(json.dumps(cfg))
            log = open(work / "orthanc.log", "ab")
            proc = subprocess.Popen(["Orthanc", str(cfg_path)], stdout=log, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            try:
                _wait(f"{base}/system", proc)
                version = httpx.get(f"{base}/system").json().get("Version")

                def post(share: list[Path], base: str = base) -> None:
                    with httpx.Client(base_url=base, timeout=120) as c:
                        for path in share:
                            r = c.post("/instances", content=path.read_bytes())
                            if r.status_code != 200 or r.json().get("Status") != "Success":
                                raise RuntimeError(f"Orthanc answered {r.status_code} {r.text[:200]}")

                seconds.append(timed_parallel(post, files, clients))
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.close()
                shutil.rmtree(storage, ignore_errors=True)
        print(json.dumps({"clients": clients, "seconds": seconds, "version": version}), flush=True)


def orthanc(files: list[Path], runs: int, work: Path) -> dict[int, list[float]] | None:
    if shutil.which("Orthanc") is None or shutil.which("unshare") is None:
        emit("orthanc_ingest_1client", 0, "MB/s", skipped="Orthanc (Debian package orthanc) or unshare not installed",
             reference=ORTHANC_REFERENCE)
        return None
    config = {"work": str(work), "files": [str(p) for p in files], "runs": runs}
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", "benchmarks.bench_ingest", "--orthanc-child",
                           json.dumps(config)], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        emit("orthanc_ingest_1client", 0, "MB/s", skipped=f"Orthanc run failed: {done.stderr[-300:]}",
             reference=ORTHANC_REFERENCE)
        return None
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {row["clients"]: row["seconds"] for row in rows} | {0: [rows[0]["version"]] if rows else []}


# -- main -----------------------------------------------------------------------------------------------
def run() -> None:
    from tools import synthetic

    slices = int(os.environ.get("BENCH_INGEST_SLICES", "300"))
    runs = max(3, int(os.environ.get("BENCH_INGEST_RUNS", "3")))
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        files = synthetic.write_ct_series(out_dir=work / "ct", seed=11, slices=slices, size=512)
        warmup = synthetic.write_ct_series(out_dir=work / "warmup", seed=12, slices=4, size=64)
        total = sum(p.stat().st_size for p in files)
        mb = total / 1e6
        ours: dict[int, float] = {}
        for clients in (1, 2):
            seconds = [yunying_run(files, work, clients, warmup) for _ in range(runs)]
            median = statistics.median(seconds)
            ours[clients] = mb / median
            emit(f"stow_mb_per_s_{clients}client", mb / median, "MB/s", instances=len(files), mb=round(mb, 1),
                 **_spread([mb / s for s in seconds]), database="sqlite", batch=BATCH)
            emit(f"stow_instances_per_s_{clients}client", len(files) / median, "instances/s",
                 **_spread([len(files) / s for s in seconds]))
        theirs = orthanc(files, runs, work)
        if theirs:
            version = theirs.pop(0, [None])[0]
            for clients, seconds in sorted(theirs.items()):
                median = statistics.median(seconds)
                emit(f"orthanc_ingest_mb_per_s_{clients}client", mb / median, "MB/s", orthanc=version,
                     endpoint="POST /instances", **_spread([mb / s for s in seconds]))
                emit(f"orthanc_ingest_instances_per_s_{clients}client", len(files) / median, "instances/s")
                emit(f"ratio_stow_vs_orthanc_{clients}client", ours[clients] / (mb / median), "x", goal=1.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--orthanc-child":
        orthanc_child(json.loads(sys.argv[2]))
    else:
        run()
