"""The parse processes never outlive the web process that started them (issue 21, round 3: a stopped
``yunying serve`` with ``YUNYING_PARSE_PROCESSES=1`` left its workers and their resource tracker running,
171 orphans after a day of benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.ingest import parsepool

_STARTER = textwrap.dedent("""
    import asyncio, subprocess
    from backend.ingest import parsepool

    async def main():
        [pid] = await parsepool.start(1)
        keeper = None
        if {hold}:  # another process keeps the parse process's input open: no end of input will come,
            # as for a parse stuck in a hostile file; only its watch on the server can end it
            fd = parsepool._pool.children[0]._stdin_fd
            keeper = subprocess.Popen(["sleep", "60"], pass_fds=[fd]).pid
        print(pid, keeper, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
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


@pytest.mark.parametrize("hold", [False, True], ids=["input-ends", "input-held-open"])
def test_a_parse_process_exits_when_its_server_is_killed(hold: bool) -> None:
    starter = subprocess.Popen([sys.executable, "-c", _STARTER.format(hold=hold)], stdout=subprocess.PIPE,
                               text=True, cwd=Path(__file__).resolve().parents[2])
    worker = keeper = None
    try:
        assert starter.stdout is not None
        pid, held = starter.stdout.readline().split()
        worker, keeper = int(pid), (int(held) if hold else None)
        assert worker != starter.pid and not _gone(worker, within=0.5)
        os.kill(starter.pid, signal.SIGKILL)  # no shutdown hook runs
        starter.wait(10)
        assert _gone(worker, within=10), "the parse process outlived the killed server"
    finally:
        starter.kill()
        for pid_left in (worker, keeper):
            if pid_left is not None and not _gone(pid_left, within=0):
                os.kill(pid_left, signal.SIGKILL)


def test_the_apps_shutdown_stops_the_parse_processes_and_waits_for_them(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        [worker] = client.portal.call(parsepool.start, 1)  # type: ignore[union-attr]
        assert not _gone(worker, within=0.5)
    assert parsepool._pool is None
    assert _gone(worker, within=5), "the parse process outlived the app's shutdown"
