"""The load client's own CPU over the run (issue 18: the client's CPU beside every figure).

On a machine that runs the service too, a figure is the service's only while Locust keeps up: a
Locust process at a full core queues its own users' requests before they are sent and after they are
answered, and that wait lands in the response times. Sampled from /proc through psutil every few
seconds (Locust and any worker processes it forked), written to ``client_cpu.csv`` and summarised for
the report: the whole run, the first ``rush_s`` seconds (the users being spawned and logging in), and
the busiest window.
"""

from __future__ import annotations

import csv
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import psutil

RUSH_S = 40.0  # docs/load-report: the service levels are set by the first ~40 s, the login rush
SATURATED = 0.9  # of one core: the client is then the bottleneck of its own figures


def _cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of the process and all its live children (Locust's --processes workers)."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class ClientCpuSampler:
    def __init__(self, pid: int, out: Path, *, every_s: float = 2.0) -> None:
        self.pid, self.out, self.every_s = pid, out, every_s
        self.rows: list[tuple[float, float]] = []  # (seconds into the run, CPU seconds so far)

    def run(self, started: float, stop: threading.Event) -> None:
        try:
            process = psutil.Process(self.pid)
        except psutil.Error:
            return
        while True:
            try:
                self.rows.append((round(time.monotonic() - started, 1), round(_cpu_seconds(process), 2)))
            except psutil.Error:
                break  # Locust has exited
            if stop.wait(self.every_s):
                break
        with (self.out / "client_cpu.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["seconds", "cpu_seconds", "cores_since_last"])
            previous = (0.0, 0.0)
            for at, cpu in self.rows:
                span = at - previous[0]
                writer.writerow([at, cpu, round((cpu - previous[1]) / span, 2) if span > 0 else ""])
                previous = (at, cpu)

    def summary(self, *, rush_s: float = RUSH_S) -> dict[str, Any]:
        return summarise(self.rows, rush_s=rush_s)


def summarise(rows: list[tuple[float, float]], *, rush_s: float = RUSH_S) -> dict[str, Any]:
    """CPU seconds and mean cores over the run and over its first ``rush_s`` s, the busiest sampling
    interval, and how many seconds the client spent at or above ``SATURATED`` of a core."""
    if len(rows) < 2:
        return {}
    end_s, total = rows[-1]
    rush = [row for row in rows if row[0] <= rush_s]
    rush_end_s, rush_cpu = rush[-1] if rush else (0.0, 0.0)
    peak, saturated_s = 0.0, 0.0
    for (t0, c0), (t1, c1) in itertools.pairwise(rows):
        if t1 <= t0:
            continue
        cores = (c1 - c0) / (t1 - t0)
        peak = max(peak, cores)
        if cores >= SATURATED:
            saturated_s += t1 - t0
    return {"cpu_s": round(total, 1), "run_s": round(end_s, 1),
            "mean_cores": round(total / end_s, 2) if end_s else None,
            "rush_s": round(rush_end_s, 1), "rush_cpu_s": round(rush_cpu, 1),
            "rush_mean_cores": round(rush_cpu / rush_end_s, 2) if rush_end_s else None,
            "peak_cores": round(peak, 2), "saturated_s": round(saturated_s, 1)}
