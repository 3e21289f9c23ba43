"""Real RabbitMQ and real `yunying worker` processes for the jobs tests.

Each test gets a fresh RabbitMQ vhost (`rabbitmqctl add_vhost`, deleted afterwards), so runs never
see each other's messages. RabbitMQ is expected at YUNYING_TEST_AMQP (default 127.0.0.1:5672,
guest/guest) with `rabbitmqctl` usable by the test user; otherwise these tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

AMQP = os.environ.get("YUNYING_TEST_AMQP", "guest:guest@127.0.0.1:5672")


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False)


def _broker_reachable() -> bool:
    host, _, port = AMQP.rpartition("@")[2].partition(":")
    try:
        with socket.create_connection((host, int(port or 5672)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def broker_url() -> Iterator[str]:
    """amqp:// URL of a fresh vhost of the machine's RabbitMQ."""
    if shutil.which("rabbitmqctl") is None or not _broker_reachable():
        pytest.skip("RabbitMQ (with rabbitmqctl) is not available")
    vhost = f"yy-test-{uuid.uuid4().hex[:12]}"
    made = _rabbitmqctl("add_vhost", vhost)
    if made.returncode != 0:
        pytest.skip(f"rabbitmqctl add_vhost failed: {made.stderr.strip()[:200]}")
    user = AMQP.partition(":")[0]
    _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    try:
        yield f"amqp://{AMQP}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def queue_depths(broker: str) -> dict[str, tuple[int, int]]:
    """{queue: (ready, unacknowledged)} of the broker URL's vhost."""
    vhost = broker.rsplit("/", 1)[1]
    out = _rabbitmqctl("list_queues", "-p", vhost, "-q", "name", "messages_ready", "messages_unacknowledged")
    depths = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            depths[parts[0]] = (int(parts[1]), int(parts[2]))
    return depths


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """kill -9 of the whole worker: its main process and every child (as when its machine dies)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()[-3000:]}")
            if " ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready:\n{self.log.read_text()[-3000:]}")


@contextmanager
def run_worker(env: dict[str, str], log: Path, *, concurrency: int = 1) -> Iterator[Worker]:
    """`yunying worker` as a subprocess in its own process group, with the web node's environment."""
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "backend.cli", "worker", f"--concurrency={concurrency}"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    worker = Worker(process=process, log=log)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


class Forwarder:
    """A TCP forwarder on a loopback port to the broker that can be cut and restored: "the broker is
    unreachable" for whoever connects through it, without touching the shared RabbitMQ."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener and every open connection: connects are refused, sessions reset."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def wait_for(check: Callable[[], bool], timeout: float, what: str, *, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
