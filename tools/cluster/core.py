"""The whole topology on one machine, on loopback ports: an nginx front proxy (deploy/nginx/yunying.conf),
two `yunying serve` web nodes, one `yunying worker`, SeaweedFS S3 (tools/seaweed.py), and this
machine's PostgreSQL (a database of its own), Redis and RabbitMQ (a vhost of its own) — or, with
``--private`` (``private=`` here), instances of those three of its own that faults may stop
(tools/cluster/services.py).

    python -m tools.cluster up [--dir var/cluster] [--port-base 8800] [--private]   # `make cluster`
    python -m tools.cluster status
    python -m tools.cluster down [--purge]                              # --purge: drop the database and vhost too

Ports: the proxy on BASE, the web nodes on BASE+1 and BASE+2, SeaweedFS on BASE+10…BASE+17. Each node
has a data directory of its own (only its request spool lives there): nothing a node needs is on
another node's disk. Settings: CLUSTER_WORKER_NICE (the worker's
priority, default 10), CLUSTER_PG_URL (a PostgreSQL server, default the local one as
postgres), CLUSTER_REDIS_URL (default redis://127.0.0.1:6379/13; `none` for none), CLUSTER_AMQP
(default guest:guest@127.0.0.1:5672). Tests and the load run's fault script drive the same class.
"""
# ruff: noqa: S603, S607 - starts our own CLI, nginx and rabbitmqctl from PATH

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path
from typing import Any

from tools.cluster.services import PrivateServices

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "yunying.conf"
READY_S = 90.0
# The worker (pre-rendering, PDFs, notices, sweeps) is background work: on one machine it must not take
# the CPU from people waiting on a web node, so it runs at a lower priority (nice(1): 0 is the default,
# 19 the lowest). The kernel's fair scheduler gives a nice-10 task about a tenth of a nice-0 task's share
# when both want the CPU, and all of it when the web nodes are idle, so the backlog still drains between
# bursts. In production the worker has machines of its own (docs/load.md). CLUSTER_WORKER_NICE=0 runs it
# as before (the comparison in docs/load.md).
WORKER_NICE = int(os.environ.get("CLUSTER_WORKER_NICE", "10"))


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:  # noqa: S310 - our loopback node
            return bool(answer.status == 200)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(pid: int, *, grace_s: float = 5.0) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _children(pid: int) -> list[Path]:
    """/proc entries of the processes whose parent is ``pid`` (nginx's workers), proc(5)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(entry)
    return found


class Cluster:
    def __init__(self, root: Path, *, port_base: int, database: str = "yunying_cluster",
                 vhost: str = "yunying-cluster", pg_url: str | None = None, redis_url: str | None = None,
                 amqp: str | None = None, web_nodes: int = 2, private: tuple[str, ...] = ()) -> None:
        self.root = Path(root).resolve()
        self.port_base, self.database, self.vhost = port_base, database, vhost
        self.private = tuple(private)
        self.services = PrivateServices(self.root / "services", port_base=port_base)
        self.pg_url = pg_url or os.environ.get("CLUSTER_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        redis = redis_url or os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/13")
        self.redis_url = None if redis == "none" else redis
        self.amqp = amqp or os.environ.get("CLUSTER_AMQP", "guest:guest@127.0.0.1:5672")
        if "postgres" in self.private:
            self.pg_url = self.services.pg_url
        if "redis" in self.private:
            self.redis_url = self.services.redis_url
        if "rabbitmq" in self.private:
            self.amqp = self.services.amqp
        self.web_ports = [port_base + 1 + n for n in range(web_nodes)]
        self.state_file = self.root / "state.json"

    # -- addresses and settings ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port_base}"

    def node_url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[n]}"

    @property
    def database_url(self) -> str:
        return self.pg_url.rsplit("/", 1)[0] + "/" + self.database

    def _secrets(self) -> dict[str, str]:
        """One set of secrets for every node (CONTRACT: every node of one deployment uses the same values)."""
        path = self.root / "secrets.json"
        if path.exists():
            stored: dict[str, str] = json.loads(path.read_text())
            return stored
        made = {name: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
                for name in ("YUNYING_SECRET_KEY", "YUNYING_ENCRYPTION_KEY", "YUNYING_BLIND_INDEX_KEY",
                             "S3_SECRET")}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(made, out)
        return made

    def _seaweed(self) -> Any:
        from tools.seaweed import SeaweedS3

        return SeaweedS3(self.root / "s3", port_base=self.port_base + 10, access_key="yunying-cluster",
                         secret_key=self._secrets()["S3_SECRET"])

    def env(self, data_dir: Path) -> dict[str, str]:
        keys = self._secrets()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("YUNYING_", "AWS_"))}
        env.update({
            "YUNYING_ENV": "development", "YUNYING_DATA_DIR": str(data_dir), "YUNYING_PUBLIC_URL": self.url,
            "YUNYING_DATABASE_URL": self.database_url, "YUNYING_STORAGE_URL": "s3://yunying-cluster",
            "YUNYING_BROKER_URL": f"amqp://{self.amqp}/{self.vhost}", "YUNYING_TRUSTED_PROXIES": "127.0.0.1",
            **{k: v for k, v in keys.items() if k.startswith("YUNYING_")}, **self._seaweed().env(),
        })
        if self.redis_url:
            env["YUNYING_REDIS_URL"] = self.redis_url
        return env

    # -- shared services -------------------------------------------------------------------------------
    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_url.replace("+psycopg", ""), autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def _drop_database(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_url.replace("+psycopg", ""), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def rabbitmqctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        if "rabbitmq" in self.private:
            return self.services.rabbitmqctl(*args)
        return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False)

    def _rabbitmqctl(self, *args: str) -> None:
        done = self.rabbitmqctl(*args)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()[:300]}")

    def queue_depths(self) -> dict[str, tuple[int, int]]:
        """{queue: (ready, unacknowledged)} of the cluster's vhost."""
        out = self.rabbitmqctl("list_queues", "-p", self.vhost, "-q", "name", "messages_ready",
                               "messages_unacknowledged")
        return {p[0]: (int(p[1]), int(p[2])) for p in (line.split() for line in out.stdout.splitlines())
                if len(p) == 3 and p[1].isdigit()}

    def _create_vhost(self) -> None:
        listed = self.rabbitmqctl("list_vhosts", "-q")
        if self.vhost not in listed.stdout.split():
            self._rabbitmqctl("add_vhost", self.vhost)
        self._rabbitmqctl("set_permissions", "-p", self.vhost, self.amqp.split(":", 1)[0], ".*", ".*", ".*")

    # -- processes -------------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> int:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        return proc.pid

    def _state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {}
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        return state

    def _save(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=1))

    def start_web(self, n: int, *, wait: bool = True) -> int:
        data = self.root / f"web{n + 1}"
        pid = self._spawn(f"web{n + 1}", [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1",
                                          "--port", str(self.web_ports[n])], self.env(data))
        state = self._state()
        state.setdefault("pids", {})[f"web{n + 1}"] = pid
        self._save(state)
        if wait:
            _wait(lambda: _healthy(self.node_url(n)), READY_S, f"web node {n + 1}")
        return pid

    @classmethod
    def attach(cls, root: Path) -> Cluster:
        """The cluster `up` started in ``root`` (another process's: a load run's fault script)."""
        state: dict[str, Any] = json.loads((Path(root) / "state.json").read_text())
        return cls(root, port_base=int(state["port_base"]), database=state["database"], vhost=state["vhost"],
                   pg_url=state.get("pg_url"), redis_url=state.get("redis_url"), amqp=state.get("amqp"),
                   private=tuple(state.get("private", ())))

    def start_worker(self) -> int:
        # nice(1) execs the worker in place: the pid (and process group) is the worker's own, and every
        # process it forks (Celery's pool, the render pool) inherits the priority.
        pid = self._spawn("worker", ["nice", "-n", str(WORKER_NICE), sys.executable, "-m", "backend.cli", "worker",
                                     "--concurrency", "2"], self.env(self.root / "worker"))
        state = self._state()
        state.setdefault("pids", {})["worker"] = pid
        self._save(state)
        return pid

    def pid(self, target: str) -> int:
        """The process (and process group) id of ``web-N`` (1-based) or ``worker``."""
        return int(self._state()["pids"][target.replace("-", "")])

    def kill(self, target: str) -> None:
        """kill -9 of a component and every process of it: ``web-N`` (1-based) or ``worker``."""
        pid = self.pid(target)
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)

    # -- faults on the shared services (private ones only: the machine's are never stopped) ----------------
    def stop_service(self, name: str) -> None:
        """Stop ``s3`` (SeaweedFS) or a private ``postgres``, ``redis`` or ``rabbitmq``."""
        if name == "s3":
            with suppress(KeyError):
                _stop_group(int(self._state()["pids"]["seaweed"]))
            self._seaweed().stop()  # removes the sockets weed leaves behind
            return
        self._private(name).stop(name)

    def start_service(self, name: str) -> None:
        """Start it again; returns once it answers."""
        if name == "s3":
            seaweed = self._seaweed().start()
            state = self._state()
            state.setdefault("pids", {})["seaweed"] = seaweed.process.pid
            self._save(state)
            return
        self._private(name).start(name)

    def restart_service(self, name: str) -> None:
        if name == "s3":
            self.stop_service(name)
            self.start_service(name)
        else:
            self._private(name).restart(name)

    def _private(self, name: str) -> PrivateServices:
        if name not in self.private:
            raise RuntimeError(f"{name} is the machine's shared one, never stopped: start the cluster with "
                               f"a private {name} (--private)")
        return self.services

    def spool(self, n: int) -> Path:
        """Web node n's request spool (backend/storage/service.py scratch_dir): files while it receives."""
        return self.root / f"web{n + 1}" / "spool"

    def fill_spool(self, n: int, *, size_mb: int = 2, left_kb: int = 16) -> None:
        """A disk that fills: web node n's request spool on a tmpfs of ``size_mb``, filled but for ``left_kb``.
        A STOW-RS that reaches this node cannot spool its parts (503 out-of-resources); requests that
        need no disk go on. Needs root (mount); RuntimeError says why not."""
        spool = self.spool(n)
        spool.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(spool)],
                                 capture_output=True, text=True, check=False)
        if mounted.returncode != 0:
            raise RuntimeError(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()[:200]}")
        with (spool / "ballast").open("wb") as out:
            out.write(b"\0" * (size_mb * 1024 * 1024 - left_kb * 1024))

    def free_spool(self, n: int) -> None:
        """The space is back: the ballast removed and the tmpfs unmounted (lazily: a request still
        writing there finishes on it)."""
        spool = self.spool(n)
        with suppress(FileNotFoundError):
            (spool / "ballast").unlink()
        subprocess.run(["umount", "-l", str(spool)], capture_output=True, check=False)

    def kill_web(self, n: int) -> None:
        """kill -9 of one web node (every process of it)."""
        self.kill(f"web-{n + 1}")

    def _nginx_conf(self, nodes: list[int] | None = None) -> Path:
        state_dir = self.root / "nginx"
        state_dir.mkdir(parents=True, exist_ok=True)
        # nginx's workers run as an unprivileged user when the master runs as root: they traverse here.
        for path in (self.root, state_dir):
            path.chmod(0o711)
        ports = [self.web_ports[n] for n in (range(len(self.web_ports)) if nodes is None else nodes)]
        servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in ports)
        text = (NGINX_CONF.read_text().replace("@@STATE@@", str(state_dir)).replace("@@SERVERS@@", servers)
                .replace("@@LISTEN@@", f"127.0.0.1:{self.port_base}"))
        conf = state_dir / "nginx.conf"
        conf.write_text(text)
        return conf

    def route(self, nodes: list[int]) -> None:
        """Send the proxy's requests to these web nodes only (0-based), the others left running idle:
        the configuration is rewritten and nginx reloaded (SIGHUP: new workers take the new upstream, the
        old ones finish their requests and exit). bench_cluster.py compares one node with two this way."""
        if not nodes or any(n not in range(len(self.web_ports)) for n in nodes):
            raise ValueError(f"no such web nodes: {nodes}")
        self._nginx_conf(nodes)
        pid = int(self._state()["pids"]["nginx"])
        pid_file = self.root / "nginx" / "nginx.pid"
        before = {p.name for p in _children(pid)}
        os.kill(pid, signal.SIGHUP)
        # reloaded when no worker of before the signal is left (each exits once its requests are done)
        _wait(lambda: not before & {p.name for p in _children(pid)}, 30, "the proxy's reload")
        _wait(lambda: pid_file.exists() and _healthy(self.url), 30, "the proxy after its reload")

    def up(self) -> None:
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        pids: dict[str, int] = dict(self._state().get("pids", {}))
        if pids and any(_alive(pid) for pid in pids.values()):
            raise RuntimeError(f"the cluster in {self.root} is running already (python -m tools.cluster down)")
        self._save({"pids": {}, "port_base": self.port_base, "database": self.database, "vhost": self.vhost,
                    "pg_url": self.pg_url, "redis_url": self.redis_url or "none", "amqp": self.amqp,
                    "private": list(self.private)})
        for name in self.private:
            self.services.start(name)
        seaweed = self._seaweed().start()
        self._save({**self._state(), "pids": {"seaweed": seaweed.process.pid}})
        self._create_database()
        self._create_vhost()
        env = self.env(self.root / "admin")
        subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=300)
        for n in range(len(self.web_ports)):  # every process starts at once; then each is waited for
            self.start_web(n, wait=False)
        self.start_worker()
        state = self._state()
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        state["pids"]["nginx"] = self._spawn("nginx", [nginx, "-c", str(self._nginx_conf()), "-g", "daemon off;"],
                                             env)
        self._save(state)
        for n in range(len(self.web_ports)):
            _wait(lambda n=n: _healthy(self.node_url(n)), READY_S, f"web node {n + 1}")
        _wait(lambda: _healthy(self.url), READY_S, "the proxy")
        log = self.root / "logs" / "worker.log"
        _wait(lambda: log.exists() and " ready." in log.read_text(errors="replace"), READY_S, "the worker")

    def down(self, *, purge: bool = False) -> None:
        state = self._state()
        pids = state.get("pids", {})
        for name in ("nginx", "worker", *sorted(k for k in pids if k.startswith("web")), "seaweed"):
            if name in pids:
                _stop_group(int(pids[name]))
        if "seaweed" in pids:
            self._seaweed().stop()  # nothing left to end; removes the sockets weed leaves in the temp dir
        self._save({**state, "pids": {}})
        for name in self.private:
            with suppress(Exception):
                self.services.stop(name)
        if purge:
            with suppress(Exception):
                self._drop_database()
            with suppress(Exception):
                self._rabbitmqctl("delete_vhost", self.vhost)
            self.services.purge()
            shutil.rmtree(self.root, ignore_errors=True)

    def status(self) -> dict[str, Any]:
        pids = self._state().get("pids", {})
        return {"proxy": self.url, "healthy": _healthy(self.url),
                "processes": {name: ("up" if _alive(int(pid)) else "down") for name, pid in pids.items()}}

