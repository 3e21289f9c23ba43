"""Time from the end of a STOW-RS upload to every default preview of the series on disk (the 512 px
preview of each frame and the scrub strip), with background work in-process (no broker, `make run`)
and with one `yunying worker` on RabbitMQ (a vhost of its own; skipped when RabbitMQ or rabbitmqctl is
not here). Both include the pre-render debounce (previews/worker.py DEBOUNCE, 3 s): a study arriving
in several STOW requests is rendered once.

    .venv/bin/python -c "from benchmarks import bench_jobs; bench_jobs.run()"

BENCH_JOBS_SLICES (default 100) slices of 512x512 CT; BENCH_JOBS_RUNS (default 2) runs each.
BENCH_JOBS_CLUSTER=1 also measures on `make cluster`'s topology (SeaweedFS S3, PostgreSQL; needs nginx),
on ports from BENCH_JOBS_CLUSTER_PORT (8850).
"""
# ruff: noqa: S603, S607 - this benchmark starts our own CLI and rabbitmqctl from PATH

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import httpx

BENCH = "jobs"
ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = "bench-jobs"
CLI = [sys.executable, "-m", "backend.cli"]


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _expected(files: list[Path], derived: Path) -> list[Path]:
    from backend.previews import spec as S

    out = []
    for path in files:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        out.append(derived / S.preview_spec(sha256=sha, frame=0, window=S.DEFAULT_WINDOW, width=S.DEFAULT_WIDTH,
                                            fmt="jpeg").relpath)
    return out


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError("timed out")


def one_run(files: list[Path], work: Path, broker: str | None) -> float:
    data = work / f"yy-{time.monotonic_ns()}"
    env = {**os.environ, "YUNYING_DATA_DIR": str(data), "YUNYING_ENV": "development"}
    env.pop("YUNYING_DATABASE_URL", None)
    env.pop("YUNYING_BROKER_URL", None)
    if broker:
        env["YUNYING_BROKER_URL"] = broker
    subprocess.run([*CLI, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    created = subprocess.run([*CLI, "institution", "create", "基准医院", "--json"], env=env, cwd=ROOT, check=True,
                             capture_output=True, text=True)
    key = json.loads(created.stdout)["api_key"]
    port = _free_port()
    url = env["YUNYING_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    with _process([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)], env, work / "serve.log") as server:
        _wait_until(lambda: server.poll() is None and _healthy(url), 60)
        worker_log = work / "worker.log"
        with (_process([*CLI, "worker", "--concurrency", "2"], env, worker_log) if broker else nullcontext()):
            if broker:
                _wait_until(lambda: worker_log.exists() and " ready." in worker_log.read_text(errors="replace"), 60)
            body = b"".join(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes()
                            + b"\r\n" for p in files) + f"--{BOUNDARY}--\r\n".encode()
            r = httpx.post(f"{url}/dicomweb/studies", content=body, timeout=300, headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'})
            r.raise_for_status()
            stored = time.monotonic()
            expected = _expected(files, data / "derived")
            _wait_until(lambda: all(p.exists() for p in expected)
                        and any((data / "derived").rglob("layout.json")), 300)
            took = time.monotonic() - stored
            if broker:
                ROUND_TRIPS.extend(_round_trips(broker, worker_log))
            return took


ROUND_TRIPS: list[float] = []


def _round_trips(broker: str, worker_log: Path, count: int = 30) -> list[float]:
    """Milliseconds from a request to the worker until its reply (a remote-control ping through RabbitMQ):
    the least a broker adds to any job whose caller waits for it, e.g. an interactive render."""
    from celery import Celery

    node = next(line.split(" ready.")[0].rsplit(" ", 1)[-1] for line in worker_log.read_text().splitlines()
                if " ready." in line)
    app = Celery("bench", broker=broker, set_as_current=False)
    app.control.ping(destination=[node], timeout=5)  # connections made, queues declared
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        replies = app.control.broadcast("ping", destination=[node], reply=True, limit=1, timeout=2)
        if replies:
            out.append((time.perf_counter() - t0) * 1000)
    app.close()
    return out


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _vhost() -> Iterator[str | None]:
    if shutil.which("rabbitmqctl") is None:
        yield None
        return
    name = f"yy-bench-{uuid.uuid4().hex[:10]}"
    if subprocess.run(["rabbitmqctl", "add_vhost", name], capture_output=True, check=False).returncode != 0:
        yield None
        return
    subprocess.run(["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], capture_output=True,
                   check=False)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True, check=False)


def cluster_run(files: list[Path], work: Path) -> float:
    """The same measure on `make cluster`'s topology (tools/cluster/): through nginx to two web nodes,
    one worker, SeaweedFS S3 and PostgreSQL; its own database and vhost, removed afterwards."""
    from backend.previews import spec as S
    from backend.previews.cache import DerivedCache
    from backend.storage.s3 import S3ObjectStore, make_client
    from tools.cluster import Cluster

    tag = uuid.uuid4().hex[:8]
    cluster = Cluster(work / "cluster", port_base=int(os.environ.get("BENCH_JOBS_CLUSTER_PORT", "8850")),
                      database=f"yy_bench_{tag}", vhost=f"yy-bench-{tag}")
    try:
        cluster.up()
        env = cluster.env(cluster.root / "admin")
        created = subprocess.run([*CLI, "institution", "create", "基准医院", "--json"], env=env, cwd=ROOT, check=True,
                                 capture_output=True, text=True)
        saved = {k: os.environ.get(k) for k in env if k.startswith("AWS_")}
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        try:
            cache = DerivedCache(S3ObjectStore(bucket="yunying-cluster", client=make_client()).sub("derived"))
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        rels = [S.preview_spec(sha256=hashlib.sha256(p.read_bytes()).hexdigest(), frame=0, window=S.DEFAULT_WINDOW,
                               width=S.DEFAULT_WIDTH, fmt="jpeg").relpath for p in files]
        subprocess.run([*CLI, "upload", "--url", cluster.url, "--key", json.loads(created.stdout)["api_key"],
                        "--batch-files", str(len(files)), str(files[0].parent)], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        stored = time.monotonic()
        _wait_until(lambda: all(cache.exists(rel) for rel in rels), 300)
        return time.monotonic() - stored
    finally:
        cluster.down(purge=True)


def run() -> None:
    from tools import synthetic

    slices = int(os.environ.get("BENCH_JOBS_SLICES", "100"))
    runs = max(1, int(os.environ.get("BENCH_JOBS_RUNS", "2")))
    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    try:
        files = synthetic.write_ct_series(out_dir=work / "ct", seed=21, slices=slices, size=512)
        with _vhost() as broker:
            for mode, url in (("in-process", None), ("worker", broker)):
                if mode == "worker" and url is None:
                    emit("ingest_to_previews", 0, "s", mode=mode, skipped="RabbitMQ or rabbitmqctl not available")
                    continue
                seconds = [one_run(files, work, url) for _ in range(runs)]
                emit("ingest_to_previews", statistics.median(seconds), "s", mode=mode, slices=slices, size=512,
                     runs=len(seconds), min=round(min(seconds), 2), max=round(max(seconds), 2), debounce_s=3)
            if os.environ.get("BENCH_JOBS_CLUSTER") == "1" and broker is not None:
                seconds = [cluster_run(files, work) for _ in range(runs)]
                emit("ingest_to_previews", statistics.median(seconds), "s", mode="cluster (nginx, 2 web, 1 worker, S3)",
                     slices=slices, size=512, runs=len(seconds), min=round(min(seconds), 2),
                     max=round(max(seconds), 2), debounce_s=3)
        if ROUND_TRIPS:
            emit("broker_round_trip_p50", statistics.median(ROUND_TRIPS), "ms", samples=len(ROUND_TRIPS),
                 max=round(max(ROUND_TRIPS), 1), note="request to a worker and its reply through RabbitMQ")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run()
