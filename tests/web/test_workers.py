"""``yunying serve --workers N`` deals connections to its workers in turn (backend/web/workers.py).

Before, uvicorn's workers shared one listening socket and two keep-alive connections opened together
often landed in one worker while the other idled (issue 17, docs/capacity.md)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

from backend.config import Settings
from tests.conftest import run_live_server


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry.name))
    return out


def _serving_process(server_port: int, client_port: int, candidates: set[int]) -> int | None:
    """Which of ``candidates`` holds the server side of the connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(a.split(":")[1], 16) for a in fields[1:3])
        if local == server_port and remote == client_port:
            inode = fields[9]
    for pid in candidates:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if re.fullmatch(rf"socket:\[{inode}\]", os.readlink(fd)):
                    return pid
            except OSError:
                continue
    return None


def _open(url: str, count: int) -> list[http.client.HTTPConnection]:
    address = urlsplit(url)
    conns = [http.client.HTTPConnection(address.hostname or "", address.port) for _ in range(count)]
    for conn in conns:  # keep-alive: each connection stays where it was handed
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200
    return conns


def test_connections_opened_together_are_dealt_to_both_workers(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    with run_live_server(settings, workers=2) as server:
        workers = _children(server.process.pid)
        workers = {pid for pid in workers if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()}
        assert len(workers) == 2
        conns = _open(server.url, 4)
        port = urlsplit(server.url).port or 0
        owners = [_serving_process(port, conn.sock.getsockname()[1], workers) for conn in conns]
        for conn in conns:
            conn.close()
        assert None not in owners
        assert owners[0] != owners[1] and owners[0] == owners[2] and owners[1] == owners[3], owners


def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    with run_live_server(settings, workers=2) as server:
        parent = server.process.pid
        first = {pid for pid in _children(parent) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()}
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = {pid for pid in _children(parent) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()}
            if len(now - first) == 1 and victim not in now:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the killed worker was not replaced")
        time.sleep(1.0)
        for conn in _open(server.url, 4):  # every turn lands on a live worker
            conn.close()
        everyone = now | {parent}
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=40)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in everyone):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in everyone)
