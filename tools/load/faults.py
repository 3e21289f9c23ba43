"""Faults during a load run, each scripted at a second of the run (issue 18), against a cluster that
`tools/cluster/` brought up:

    --cluster-dir var/cluster --fault 60:kill-worker --fault 90:start-worker --fault 120:kill-web-1

Actions: ``kill-web-N`` / ``start-web-N`` (kill -9 of web node N, 1-based, and its restart) and
``kill-worker`` / ``start-worker``. Each action is stamped with when it really happened; a ``start-…``
ends the window its ``kill-…`` opened, and the window lasts until the component answers again. The
report shades the windows, so what users saw during each one can be read off the plots.
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
    action: str  # kill-web-N, start-web-N, kill-worker, start-worker

    @property
    def target(self) -> str:
        return self.action.split("-", 1)[1]  # web-1, worker


@dataclass
class Window:
    target: str
    start_s: float
    end_s: float | None = None


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
        if kind == "kill":
            self.windows.append(Window(target=target, start_s=time.monotonic() - started))
            self.cluster.kill(target)
            return
        if target == "worker":
            self.cluster.start_worker()
        else:
            self.cluster.start_web(int(target.removeprefix("web-")) - 1)  # waits until the node answers
        for window in self.windows:
            if window.target == target and window.end_s is None:
                window.end_s = time.monotonic() - started


def parse(specs: list[str]) -> list[Fault]:
    faults = []
    for spec in specs:
        at, _, action = spec.partition(":")
        kind, _, target = action.partition("-")
        if kind not in ("kill", "start") or not (target == "worker" or target.removeprefix("web-").isdigit()):
            raise ValueError(f"--fault SECONDS:ACTION, ACTION one of kill-web-N, start-web-N, kill-worker, "
                             f"start-worker; not {spec!r}")
        faults.append(Fault(at_s=float(at), action=action))
    return faults


def script(*, cluster_dir: Path, specs: list[str]) -> FaultScript:
    return FaultScript(faults=parse(specs), cluster=Cluster.attach(cluster_dir))
