"""What a load run on the cluster measures beside Locust (issue 18): each node's memory over the run,
the pre-render backlog's drain after the uploads stop, WeChat notices sent twice, and per fault window
the failures users saw and how long until none came any more.

Memory: the resident set of every process of a node (its process group: a web node's server and render
pool, the worker's Celery parent and children), sampled every few seconds. "After warm-up" is a node's
first sample ``warmup_s`` after its process started (a node restarted by a fault is measured from its
restart); the check is the last sample within 20 % of that.
"""

from __future__ import annotations

import csv
import os
import threading
import time
from pathlib import Path
from typing import Any

from tools.cluster import Cluster

NODES = ("web1", "web2", "worker")
PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss_mb(pgid: int) -> float:
    """Sum of the resident sets of every process in the process group ``pgid`` (a node's processes)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of /proc/PID/stat: the process group
                continue
            total += int((entry / "statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total / 2**20


class MemorySampler:
    def __init__(self, cluster: Cluster, out: Path, *, every_s: float = 5.0) -> None:
        self.cluster, self.out, self.every_s = cluster, out, every_s
        self.rows: list[tuple[float, str, int, float]] = []  # (seconds into the run, node, pid, MB)

    def run(self, started: float, stop: threading.Event) -> None:
        while True:
            pids = self.cluster._state().get("pids", {})
            for node in NODES:
                if node in pids:
                    mb = group_rss_mb(int(pids[node]))
                    if mb > 0:
                        self.rows.append((round(time.monotonic() - started, 1), node, int(pids[node]), round(mb, 1)))
            if stop.wait(self.every_s):
                break
        with (self.out / "memory.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["seconds", "node", "pid", "rss_mb"])
            writer.writerows(self.rows)

    def verdict(self, *, warmup_s: float) -> list[dict[str, Any]]:
        result = []
        for node in NODES:
            rows = [r for r in self.rows if r[1] == node]
            if not rows:
                continue
            last = rows[-1]
            same = [r for r in rows if r[2] == last[2]]  # the process alive at the end (restarts start anew)
            born = same[0][0]
            warm = next((r for r in same if r[0] >= born + warmup_s), None)
            growth = None if warm is None else (last[3] - warm[3]) / warm[3]
            result.append({"node": node, "restarted_at_s": born if born > self.every_s else None,
                           "after_warmup_mb": None if warm is None else warm[3],
                           "at_s": None if warm is None else warm[0], "end_mb": last[3],
                           "growth": None if growth is None else round(growth, 3),
                           "within_20pct": growth is not None and abs(growth) <= 0.2})
        return result


def drain_seconds(cluster: Cluster, *, timeout_s: float = 600) -> float | None:
    """Seconds from now until no pre-render job waits (outbox rows, queued or unacknowledged messages);
    None if not drained within ``timeout_s``."""
    import psycopg

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            with psycopg.connect(cluster.database_url.replace("+psycopg", ""), connect_timeout=5) as conn:
                row = conn.execute("SELECT count(*) FROM job_outbox WHERE kind = 'prerender'").fetchone()
            depths = cluster.queue_depths()
            if row is not None and row[0] == 0 and sum(r + u for r, u in depths.values()) == 0:
                return round(time.monotonic() - started, 1)
        except Exception:  # noqa: BLE001, S110 - a part still coming back: look again
            pass
        time.sleep(2)
    return None


def notices(cluster: Cluster) -> dict[str, int]:
    """Template messages the WeChat simulator received against notices marked sent: more messages than
    sent notices plus those whose sender died mid-send (possibly sent once) would be a notice sent twice."""
    import psycopg

    from backend.notify.service import DIED_MID_SEND

    with psycopg.connect(cluster.database_url.replace("+psycopg", "")) as conn:
        (sent,) = conn.execute("SELECT count(*) FROM notification WHERE status = 'sent'").fetchone() or (0,)
        (died,) = conn.execute("SELECT count(*) FROM notification WHERE (status = 'failed' AND last_error = %s) "
                               "OR status = 'sending'", (DIED_MID_SEND,)).fetchone() or (0,)
        # The simulator keeps its inbox in the same database; its HTTP listing shows the newest 200 only.
        (received,) = conn.execute("SELECT count(*) FROM sim_inbox WHERE kind = 'template'").fetchone() or (0,)
    return {"sent": sent, "possibly_sent": died, "received": received,
            "sent_twice": max(0, received - sent - died)}


def fault_effects(history: Path, windows: list[dict[str, Any]], *, quiet_s: float = 10) -> list[dict[str, Any]]:
    """Per fault window: failed requests by name from its start until failures stopped, and seconds from
    the component being back until no request failed for ``quiet_s`` (Locust's per-second history)."""
    totals: dict[float, dict[str, int]] = {}
    with history.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            totals.setdefault(float(row["Timestamp"]), {})[row["Name"]] = int(row.get("Total Failure Count") or 0)
    if not totals:
        return []
    start = min(totals)
    times = sorted(totals)
    out = []
    starts = sorted(start + w["start_s"] for w in windows if "target" in w)
    for window in windows:
        if "target" not in window:
            continue
        begin = start + window["start_s"]
        # What follows the next fault's start is that fault's, not this one's.
        next_start = min((s for s in starts if s > begin), default=times[-1])
        back = start + (window["end_s"] if window["end_s"] is not None else times[-1] - start)
        before = max((t for t in times if t <= begin), default=times[0])
        normal = None
        for t in (t for t in times if back <= t < next_start):
            later = [u for u in times if t <= u <= t + quiet_s]
            if later and later[-1] >= t + quiet_s - 1 and \
                    totals[later[-1]].get("Aggregated", 0) == totals[t].get("Aggregated", 0):
                normal = t
                break
        until = min(normal if normal is not None else times[-1], next_start)
        until = max((t for t in times if t <= until), default=times[0])
        failed = {name: totals[until].get(name, 0) - totals[before].get(name, 0)
                  for name in totals[until] if name != "Aggregated"}
        out.append({**window, "failed": {k: v for k, v in failed.items() if v > 0},
                    "normal_after_back_s": None if normal is None else round(normal - back, 1)})
    return out
