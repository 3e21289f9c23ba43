"""The parse pool's processes never outlive the web process that started them (issue 21, round 3: a
stopped ``yunying serve`` with ``YUNYING_PARSE_PROCESSES=1`` left its workers and their resource tracker
running, 171 orphans after a day of benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from fastapi.testclient import TestClient

from backend.ingest import parsepool

_STARTER = textwrap.dedent("""
    import os, sys, time
    from backend.ingest import parsepool
    pool = parsepool._executor(1)
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(600)
""")


def _gone(pid: int, *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":  # exited, waiting for its parent to reap it
            return True
        time.sleep(0.1)
    return False


def test_a_parse_worker_exits_when_its_server_is_killed() -> None:
    starter = subprocess.Popen([sys.executable, "-c", _STARTER], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        assert starter.stdout is not None
        worker = int(starter.stdout.readline())
        assert worker != starter.pid and not _gone(worker, within=0.5)
        os.kill(starter.pid, signal.SIGKILL)  # no shutdown hook runs
        starter.wait(10)
        assert _gone(worker, within=10), "the parse worker outlived the killed server"
    finally:
        starter.kill()


def test_the_apps_shutdown_stops_the_parse_pool_and_waits_for_it(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app):
        worker = parsepool._executor(1).submit(os.getpid).result()  # type: ignore[union-attr]
        assert not _gone(worker, within=0.5)
    assert parsepool._pool is None
    assert _gone(worker, within=5), "the parse worker outlived the app's shutdown"
