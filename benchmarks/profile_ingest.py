"""Where a STOW-RS upload spends its time: py-spy on a fresh ``yunying serve`` under 1, 2 and 4 clients.

Not part of ``make bench`` (a profile, not a figure to compare): issue 21's findings in docs/ingest.md
come from it. For each client count: a fresh server (SQLite, or PostgreSQL with ``--database-url``),
warmed with a small series, then ``py-spy record --subprocesses --threads --nonblocking`` while the light
client (``benchmarks/httpload.py``) sends the synthetic CT in STOW-RS batches of 25. Printed, as JSON
lines: the throughput and server cores of the profiled run, the share of samples per thread kind (the
event loop, the threads that parse, write blobs and index), the stages by inclusive samples, and the
hottest leaf lines.

    python -m benchmarks.profile_ingest [--clients 1,2,4] [--slices 150] [--workers 1]
                                        [--database-url postgresql+psycopg://...] [--rate 100]

py-spy samples only threads that are running (``--idle`` off): a thread blocked in fsync or on a lock
is counted while the kernel reports it runnable or in uninterruptible sleep, not while it sleeps.
"""

# ruff: noqa: S603 - starts py-spy from the virtualenv

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.bench_ingest import BATCH, stow_requests, warm_up, warmup_series
from benchmarks.ingest_servers import measure_server, settle, stage_costs, yunying

# (label, substring of a frame "function (file:line)"): a sample counts for a stage when a frame of its
# stack matches; the first matching stage from the leaf upwards wins.
STAGES = [
    ("receive: multipart reader (hash + temp file write)", "multipart.py"),
    ("receive: ASGI body stream (uvicorn/starlette)", "h11_impl.py"),
    ("receive: ASGI body stream (uvicorn/starlette)", "httptools_impl.py"),
    ("receive: ASGI body stream (uvicorn/starlette)", "starlette/requests.py"),
    ("parse: fast header reader (DICOM JSON from the bytes)", "fastheader.py"),
    ("parse: pydicom header", "parse_instance"),
    ("parse: index fields", "extract_metadata"),
    ("parse: DICOM JSON for the series document", "dataset_to_json"),
    ("parse: file read, pixel location (fast path)", "parse_fast"),
    ("store: fsync of the blobs' directories", "_fsync (backend/storage/local.py"),
    ("store: blob write (link, re-hash, fsync)", "_stage (backend/storage/local.py"),
    ("store: blob write (link, size check, fsync; round 4)", "_stage_spooled (backend/storage/local.py"),
    ("store: exists check", "exists (backend/storage/local.py"),
    ("index: duplicate lookup", "_existing_shas"),
    ("index: MPI (patient matching)", "_match"),
    ("index: rows", "index (backend/ingest/index.py"),
    ("index: study counters, timeline", "finish (backend/ingest/index.py"),
    ("outbox: pre-render jobs", "enqueue_studies"),
    ("index: commit", "session_scope"),
    ("series document", "seriesdoc.py"),
    ("audit", "_audit_stow"),
    ("response", "stow_response_json"),
    ("parse: the rest of parse_file", "backend/ingest/parsing.py"),
    ("parse hand-over (round 5: pipes and JSON frames, parsepool/parsewire/parseworker)", "parsewire.py"),
    ("parse hand-over (round 5: pipes and JSON frames, parsepool/parsewire/parseworker)", "parsepool.py"),
    ("parse hand-over (round 5: pipes and JSON frames, parsepool/parsewire/parseworker)", "parseworker.py"),
    ("parse hand-over (process pool: pickling, queues, pipes)", "multiprocessing/"),
    ("parse hand-over (process pool: pickling, queues, pipes)", "concurrent/futures/process.py"),
    ("thread pools: waiting for and taking work", "concurrent/futures/thread.py"),
    ("thread pools: waiting for and taking work", "anyio/_backends/_asyncio.py"),
]


def _stage(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, needle in STAGES:
            if needle in frame:
                return label
    return "other"


THREADS = [  # (label, substring of py-spy's "thread (id): name" or child "process" frame)
    ("event loop (ASGI receive, multipart reader)", "MainThread"),
    ("parse threads (loop.run_in_executor)", "uvloop_"),
    ("flush threads (anyio: store + index)", "AnyIO worker"),
    ("fsync threads (the store's pool)", "yunying-sync"),
    ("fsync threads (one pool per flush, before round 4)", "ThreadPoolExecutor"),
    ("pre-render jobs thread (in-process)", "yunying-jobs"),
]


def _thread_kind(roots: list[str], workers: int) -> str:
    # process roots: the server (and with --workers N > 1 the worker under it), then a pool's child
    processes = sum(1 for r in roots if r.startswith("process "))
    if processes > (2 if workers > 1 else 1) or (roots and roots[-1].startswith("process ")):
        return "child processes (parse pool, render pool)"
    name = roots[-1] if roots else ""
    return next((label for label, needle in THREADS if needle in name), "other threads")


def _records(raw: Path) -> Iterator[str]:
    """py-spy's raw lines, a stack and its count each; a process's command line may hold a newline (the
    multiprocessing children's ``-c`` code), which continues the same record on the next line."""
    pending = ""
    for line in raw.read_text(errors="replace").splitlines():
        pending += line
        if pending.rpartition(" ")[2].isdigit():
            yield pending
            pending = ""


def summarize(raw: Path, seconds: float, rate: int, workers: int = 1) -> dict[str, Any]:
    stages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in _records(raw):
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        roots = [f for f in frames if f.startswith(("process ", "thread "))]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        stages[_stage(frames)] += n
        threads[_thread_kind(roots, workers)] += n
        leaves[frames[-1]] += n

    def share(counter: Counter[str], top: int) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1), round(n / rate / seconds, 3)] for name, n in counter.most_common(top)]

    return {"samples": total, "active_threads": round(total / rate / seconds, 2),
            "threads": share(threads, 8), "stages": share(stages, 20), "leaves": share(leaves, 15)}


def profile(*, clients: int, files: list[Path], warmups: list[list[Path]], work: Path, rate: int, workers: int,
            database_url: str | None, keep: Path | None = None) -> dict[str, Any]:
    mb = sum(p.stat().st_size for p in files) / 1e6
    with yunying(work, database_url=database_url, workers=workers) as server:
        warm_up(server, warmups[:workers])  # a new study per worker, as in bench_ingest
        time.sleep(3.5)  # as in bench_ingest: the warm-up's pre-rendering is over before the clock starts
        settle(server.pid)
        requests = stow_requests(files, host=server.host, key=server.key)
        raw = (keep or work) / f"profile-{clients}.txt"
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid),
                                "--subprocesses", "--threads", "--nonblocking", "--rate", str(rate),
                                "--format", "raw", "--output", str(raw)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches
        started = time.monotonic()
        measured = measure_server(server.url, server.pid, requests, clients, mb)
        seconds = time.monotonic() - started
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        stages = stage_costs(server.log, skip=workers, instances=len(files))
    return {"clients": clients, "mb_per_s": round(measured.mb_per_s, 1),
            "server_cores": round(measured.server_cores, 2), "client_cpu_s": round(measured.client_cpu, 3),
            "cpu_ms_per_instance": round(1000 * measured.server_cores * seconds / len(files), 2),
            "instances": len(files), "batch": BATCH, "database": "postgresql" if database_url else "sqlite",
            "workers": workers, "stages_cpu_wall_ms_per_instance": stages, **summarize(raw, seconds, rate, workers)}


def main() -> None:
    from tools import synthetic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,2,4")
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_INGEST_PG_URL"))
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw stacks in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as tmp:
        work = Path(tmp)
        files = synthetic.write_ct_series(out_dir=work / "ct", seed=11, slices=args.slices, size=512)
        warmups = warmup_series(work, workers=args.workers)
        for clients in [int(c) for c in args.clients.split(",")]:
            print(json.dumps(profile(clients=clients, files=files, warmups=warmups, work=work, rate=args.rate,
                                     workers=args.workers, database_url=args.database_url, keep=args.keep),
                             ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
