"""Faults during a load run, each scripted at a second of the run (issue 18), against a cluster that
`tools/cluster/` brought up:

    --cluster-dir var/cluster --fault 60:kill-worker --fault 90:start-worker --fault 120:kill-web-1

Actions: ``kill-web-N`` / ``start-web-N`` (kill -9 of web node N, 1-based, and its restart),
``kill-worker`` / ``start-worker``, ``stop-s3`` / ``start-s3`` (SeaweedFS), and — on a cluster with
private services (``tools.cluster up --private``) — ``stop-redis`` / ``start-redis``, ``stop-postgres`` /
``start-postgres``, ``stop-rabbitmq`` / ``start-rabbitmq`` and ``restart-postgres`` (one action: its
window lasts until PostgreSQL answers again); ``fill-disk-N`` / ``free-disk-N``: web node N's request
spool on a small tmpfs filled but for 16 kB, and the space freed again (needs root: Cluster.fill_spool).
Each action is stamped with when it really happened; a
``start-…`` ends the window its ``kill-…``/``stop-…`` opened, and the window lasts until the component
answers again. The report shades the windows, so what users saw during each one can be read off the plots.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.cluster import Cluster


@dataclass(frozen=True)
class Fault:
    at_s: float
    action: str  # kill-web-N, start-web-N, kill-worker, start-worker, stop-X, start-X, restart-postgres,
    # fill-disk-N, free-disk-N

    @property
    def target(self) -> str:
        return self.action.split("-", 1)[1]  # web-1, worker, s3, redis, postgres, rabbitmq, disk-1


@dataclass
class Window:
    target: str
    start_s: float
    end_s: float | None = None
    kind: str = "kill"  # kill (-9), stop, restart, fill


@dataclass
class FaultScript:
    faults: list[Fault]
    cluster: Cluster
    windows: list[Window] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, started: float, stop: threading.Event) -> None:
        """Performs each fault at its second after ``started`` (time.monotonic); returns when all ran."""
        for fault in sorted(self.faults, key=lambda f: f.at_s):
            if stop.wait(max(0.0, started + fault.at_s - time.monotonic())):
                return
            try:
                self._do(fault, started)
            except Exception as exc:  # noqa: BLE001 - reported with the run; the load goes on
                self.errors.append(f"{fault.action} at {fault.at_s:g} s: {type(exc).__name__}: {exc}")

    def _do(self, fault: Fault, started: float) -> None:
        kind, target = fault.action.split("-", 1)
        if kind in ("kill", "stop", "restart", "fill"):
            self.windows.append(Window(target=target, start_s=time.monotonic() - started, kind=kind))
            if kind == "fill":
                self.cluster.fill_spool(_node(target))
                return
            if kind == "kill":
                self.cluster.kill(target)
                return
            if kind == "stop":
                self.cluster.stop_service(target)
                return
            self.cluster.restart_service(target)  # returns once it answers again: the window ends there
        elif kind == "free":
            self.cluster.free_spool(_node(target))
        elif target in SERVICES:
            self.cluster.start_service(target)
        elif target == "worker":
            self.cluster.start_worker()
        else:
            self.cluster.start_web(_node(target))  # waits until the node answers
        for window in self.windows:
            if window.target == target and window.end_s is None:
                window.end_s = time.monotonic() - started


SERVICES = ("s3", "redis", "postgres", "rabbitmq")


def _node(target: str) -> int:
    """``web-2`` or ``disk-2`` → 1 (0-based web node)."""
    return int(target.split("-", 1)[1]) - 1


def _valid(kind: str, target: str) -> bool:
    if kind in ("kill", "start") and (target == "worker" or target.removeprefix("web-").isdigit()):
        return True
    if kind in ("fill", "free") and target.removeprefix("disk-").isdigit():
        return True
    return (kind in ("stop", "start") and target in SERVICES) or (kind == "restart" and target == "postgres")


def parse(specs: list[str]) -> list[Fault]:
    faults = []
    for spec in specs:
        at, _, action = spec.partition(":")
        kind, _, target = action.partition("-")
        if not _valid(kind, target):
            raise ValueError(f"--fault SECONDS:ACTION, ACTION one of kill-web-N, start-web-N, kill-worker, "
                             f"start-worker, stop-|start-(s3|redis|postgres|rabbitmq), restart-postgres, "
                             f"fill-|free-disk-N; "
                             f"not {spec!r}")
        faults.append(Fault(at_s=float(at), action=action))
    return faults


def script(*, cluster_dir: Path, specs: list[str]) -> FaultScript:
    return FaultScript(faults=parse(specs), cluster=Cluster.attach(cluster_dir))
