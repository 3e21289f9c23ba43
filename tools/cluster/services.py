"""Private PostgreSQL, Redis and RabbitMQ for a cluster whose faults stop or restart them (issue 18).

The machine's own services are shared with other work and are never stopped: a cluster started with
``private=("postgres", "redis", "rabbitmq")`` runs its own instance of each on its port range instead,
with its data under the cluster's directory, and the fault script stops and starts those.

Ports, from the cluster's base: PostgreSQL BASE+3, Redis BASE+4, RabbitMQ AMQP BASE+5 and its Erlang
distribution port BASE+6 (the machine's epmd names the node; the node name carries the base so that two
clusters never meet).
"""
# ruff: noqa: S603, S607 - starts initdb/pg_ctl, redis-server and rabbitmq-server from the machine

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

NAMES = ("postgres", "redis", "rabbitmq")
READY_S = 90.0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_port(port: int, *, up: bool, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(port) == up:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} {'not up' if up else 'still up'} after {timeout:.0f} s")


def _pg_bin(tool: str) -> str:
    found = shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {tool} is not installed (Debian: postgresql)")
    return found


def _rabbit_bin(tool: str) -> str:
    # The Debian wrapper in /usr/sbin switches to the rabbitmq user and its cookie; the real scripts run as
    # us, with HOME (hence the Erlang cookie) in the node's own directory.
    direct = Path("/usr/lib/rabbitmq/bin", tool)
    return str(direct) if direct.exists() else (shutil.which(tool) or tool)


def missing() -> str | None:
    """Why private services cannot run here, or None."""
    for tool in ("initdb", "pg_ctl"):
        try:
            _pg_bin(tool)
        except RuntimeError as exc:
            return str(exc)
    for tool in ("redis-server", "rabbitmq-server", "rabbitmqctl"):
        if shutil.which(tool) is None and not Path("/usr/lib/rabbitmq/bin", tool).exists():
            return f"{tool} is not installed"
    return None


class PrivateServices:
    """Start, stop and restart the private services of one cluster (idempotent, by port and data dir)."""

    def __init__(self, root: Path, *, port_base: int) -> None:
        self.root = Path(root)
        self.ports = {"postgres": port_base + 3, "redis": port_base + 4, "rabbitmq": port_base + 5}
        self.dist_port = port_base + 6
        self.node = f"yy-cluster-{port_base}@localhost"
        # PostgreSQL runs as its own OS user, who cannot enter a test's private temp directory: its data
        # lives in a directory of its own, named after the cluster's so that attach() finds it again.
        tag = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:12]
        self.pg_data = Path(tempfile.gettempdir()) / f"yy-cluster-pg-{tag}"

    # -- what the nodes are given ----------------------------------------------------------------------
    @property
    def pg_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.ports['postgres']}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    @property
    def amqp(self) -> str:
        return f"guest:guest@127.0.0.1:{self.ports['rabbitmq']}"

    def up(self, name: str) -> bool:
        return _answers(self.ports[name])

    # -- PostgreSQL: initdb and pg_ctl as the postgres OS user (it refuses to run as root) ------------------
    def _as_postgres(self, *args: str, timeout: float = 120) -> None:
        command = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-400:]}")

    def _pg_dir(self) -> Path:
        data = self.pg_data
        if not (data / "PG_VERSION").exists():
            data.mkdir(mode=0o700, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(data, "postgres", "postgres")
            self._as_postgres(_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                              "--no-sync")
        return data

    def _pg_ctl(self, action: str) -> None:
        data = self._pg_dir()
        options = (f"-p {self.ports['postgres']} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data} "
                   "-c max_connections=200 -c fsync=on")
        args = [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60"]
        if action == "stop":
            self._as_postgres(*args, "-m", "fast", "stop")
        else:
            self._as_postgres(*args, "-o", options, action, *(["-m", "fast"] if action == "restart" else []))

    # -- Redis ----------------------------------------------------------------------------------------------
    def _redis_start(self) -> None:
        data = self.root / "redis"
        data.mkdir(parents=True, exist_ok=True)
        with open(data / "redis.log", "ab") as log:
            subprocess.Popen(["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                              "--dir", str(data), "--save", "", "--appendonly", "no",
                              "--pidfile", str(data / "redis.pid"), "--daemonize", "no"],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def _redis_stop(self) -> None:
        pidfile = self.root / "redis" / "redis.pid"
        if pidfile.exists():
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)

    # -- RabbitMQ: a node of its own (name, ports, data, plugins, config), the machine's epmd ---------------
    def _rabbit_env(self) -> dict[str, str]:
        base = self.root / "rabbitmq"
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")  # no management listener on the machine's port
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.ports['rabbitmq']}\nloopback_users = none\n")
        return {**os.environ, "HOME": str(base), "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_PORT": str(self.ports["rabbitmq"]), "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
                "RABBITMQ_PID_FILE": str(base / "rabbit.pid"), "RABBITMQ_ENABLED_PLUGINS_FILE":
                str(base / "enabled_plugins"), "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
                "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf")}

    def rabbitmqctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_rabbit_bin("rabbitmqctl"), "-n", self.node, *args], capture_output=True, text=True,
                              timeout=timeout, check=False, env=self._rabbit_env())

    def _rabbit_start(self) -> None:
        env = self._rabbit_env()
        with open(self.root / "rabbitmq" / "server.log", "ab") as log:
            subprocess.Popen([_rabbit_bin("rabbitmq-server")], env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)

    def _rabbit_stop(self) -> None:
        # A clean shutdown (what a restart by an operator does): durable queues and persistent messages stay.
        self.rabbitmqctl("stop", timeout=120)

    # -- the operations the cluster and the fault script use ------------------------------------------------
    def start(self, name: str) -> None:
        if self.up(name):
            return
        if name == "postgres":
            self._pg_ctl("start")
        elif name == "redis":
            self._redis_start()
        else:
            self._rabbit_start()
        _wait_port(self.ports[name], up=True, timeout=READY_S, what=f"private {name}")

    def stop(self, name: str) -> None:
        if not self.up(name):
            return
        if name == "postgres":
            self._pg_ctl("stop")
        elif name == "redis":
            self._redis_stop()
        else:
            self._rabbit_stop()
        _wait_port(self.ports[name], up=False, timeout=READY_S, what=f"private {name}")

    def purge(self) -> None:
        """Remove what the services stored (after stop)."""
        shutil.rmtree(self.pg_data, ignore_errors=True)

    def restart(self, name: str) -> None:
        if name == "postgres" and self.up(name):
            self._pg_ctl("restart")
            _wait_port(self.ports[name], up=True, timeout=READY_S, what="private postgres")
            return
        self.stop(name)
        self.start(name)
