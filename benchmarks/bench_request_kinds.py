"""CPU per request, by kind of request and by component, on the cluster topology (issue 18).

The standard load run burns the machine's two cores at ~120 requests/s; this says where each request's
CPU goes. For each kind of request the app makes (a cache-hit preview as a patient scrolls a
pre-rendered series, the timeline, the study detail, the scrub answer, ``/me``, the lab trends, the cached
report PDF, a doctor's share open) it sends ``--requests`` requests of that one kind through the proxy
from ``--clients`` forked keep-alive clients (benchmarks/httpload.py), and reads every process's CPU time
(psutil, user + system) before and after: CPU-ms per request for each web node, nginx, SeaweedFS,
PostgreSQL, Redis, RabbitMQ and the worker, with the client's own CPU printed beside.

Three preview kinds: ``preview`` is served from the web node's own copy of derived objects (every frame
viewed on both nodes before: storage/nodecache.py), ``preview_store`` from SeaweedFS (the nodes' copies
removed first, every frame asked once — the first view of a slice on a node), ``preview_render`` rendered
on the web node (a custom window no one asked for before, every frame once). Three more kinds count per
unit of work, not per HTTP request: ``login`` per whole WeChat login (start, the simulator's authorize,
the callback), ``stow`` per instance (STOW-RS of new 30-slice 256-px CTs, one request per study; the
worker's pre-rendering of them is in its ``worker`` column, and the next kind waits until it is done),
``share_open`` per open (a doctor's access code: one argon2 verification each). ``preview_after_bump``:
node-copy previews, each the first one a node serves for its viewer and series after the access epoch
moved (access/epoch.py): the cost of computing a cached decision and a series' image facts again.

    python -m tools.cluster up --dir var/cluster-load --port-base 8800 --private   # a cluster to attach to
    python -m benchmarks.bench_request_kinds --cluster-dir var/cluster-load [--requests 400] [--clients 4]
        [--kinds preview,timeline] [--rounds 1]

Without ``--cluster-dir`` (``make bench``) it brings up a cluster of its own (BENCH_KINDS_PORT, default 8890)
with private services and takes it down after. The population (tools/load/population.py: ``--patients``
people, a CT of ``--slices`` 256-px slices each, pre-rendered by the worker) is built once per cluster and
kept in its directory (``bench-kinds.json``), so repeated runs on one cluster compare like with like.
Figures are medians over ``--rounds``; one JSON line per kind: ``{"bench": "request_kinds", "metric":
"<kind>_web_cpu_ms", "value": …, "by_component": {…}, "client_cpu_ms": …}``.
"""


from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import requests

from benchmarks.bench_cluster import environment, wait_idle
from benchmarks.httpload import LoadResult, build_request, concurrent_requests

BENCH = "request_kinds"
KINDS = ("preview", "preview_store", "preview_render", "timeline", "study_detail", "scrub", "me", "lab_trends",
         "report_pdf", "share_open", "login", "stow", "preview_after_bump")
STOW_SLICES = 30  # a hospital's upload in the load model (tools/load/locustfile.py LOAD_UPLOAD_SLICES)
POPULATION_FILE = "bench-kinds.json"
Request = tuple[str, bytes]


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit,
                      "load1": round(os.getloadavg()[0], 1), **extra}, ensure_ascii=False), flush=True)


# -- the processes of each component ------------------------------------------------------------------------
def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def components(cluster: Any) -> dict[str, list[psutil.Process]]:
    """Every process of the cluster by component: the ones it started by their recorded pid (and their
    children: the render pool, nginx's workers), private services by their data directory or port on the
    command line (PostgreSQL's backends are the postmaster's children)."""
    found: dict[str, list[psutil.Process]] = {}
    for name, pid in cluster._state().get("pids", {}).items():
        found[name] = _tree(int(pid))
    services = cluster.services
    marks = {"postgres": str(services.pg_data), "redis": f"redis-server 127.0.0.1:{services.ports['redis']}",
             "rabbitmq": str(services.root / "rabbitmq")}
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or ())
        for name, mark in marks.items():
            if mark in line and name not in found:
                found[name] = _tree(proc.pid)
    return found


def access_epoch(cluster: Any) -> int:
    """The access epoch (access/epoch.py): every write that could narrow an access decision bumps it, and
    every node's cached decisions and image facts are then computed again on their next use."""
    import psycopg

    with psycopg.connect(cluster.database_url.replace("+psycopg", ""), connect_timeout=5) as conn:
        row = conn.execute("SELECT value FROM access_epoch WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def bump_epoch(cluster: Any) -> None:
    """What any watched write does to the counter (a revocation, a share's change: migration 0012)."""
    import psycopg

    with psycopg.connect(cluster.database_url.replace("+psycopg", ""), connect_timeout=5, autocommit=True) as conn:
        conn.execute("UPDATE access_epoch SET value = value + 1 WHERE id = 1")


def _after_bumps(cluster: Any, made: dict[str, Any], *, count: int, clients: int) -> LoadResult:
    """``count`` previews, each the first a node serves for its viewer and series after an epoch bump:
    the bump, then one preview of each person's series from each node (straight to the node), again."""
    people, nodes = made["people"], range(len(cluster.web_ports))
    latencies: list[float] = []
    client_cpu = wall = 0.0
    for i in range(max(1, count // (len(people) * len(nodes)))):
        bump_epoch(cluster)
        for n in nodes:
            host = urlsplit(cluster.node_url(n)).netloc
            reqs = [(url, build_request(target=url, host=host, headers={"Cookie": p["cookie"], "Accept": "image/jpeg"}))
                    for p in people for url in [p["previews"][i % len(p["previews"])]]]
            done = concurrent_requests(base_url=cluster.node_url(n), requests=reqs, clients=clients)
            latencies += done.latencies
            client_cpu += done.client_cpu
            wall += done.wall
    return LoadResult(len(latencies) / wall if wall else 0.0, latencies, 0, wall, client_cpu)


def cpu_snapshot(procs: dict[str, list[psutil.Process]]) -> dict[tuple[str, int], float]:
    snap = {}
    for name, group in procs.items():
        for proc in group:
            with suppress(psutil.Error):
                times = proc.cpu_times()
                snap[(name, proc.pid)] = times.user + times.system
    return snap


def cpu_by_component(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> dict[str, float]:
    """CPU seconds each component used in between (a process born in between counts from zero; one that
    ended in between is lost — none of the cluster's long-lived processes does)."""
    used: dict[str, float] = {}
    for key, value in after.items():
        used[key[0]] = used.get(key[0], 0.0) + max(0.0, value - before.get(key, 0.0))
    return used


# -- the population and the requests of each kind -------------------------------------------------------------
def _cookie(http: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def plan(cluster: Any, *, patients: int, slices: int) -> dict[str, Any]:
    """The URLs of every kind for the cluster's bench population, built (and pre-rendered) on first use."""
    from tools.load.browser import login, timeline_studies
    from tools.load.population import Population, build

    saved = cluster.root / POPULATION_FILE
    if saved.exists():  # logged in again: a session's access token lives minutes (auth/sessions.py)
        made: dict[str, Any] = json.loads(saved.read_text(encoding="utf-8"))
        for person in made["people"]:
            http = requests.Session()
            login(http, base_url=cluster.url, openid=person["openid"])
            person["cookie"] = _cookie(http)
        return made
    env = cluster.env(cluster.root / "admin")
    with environment({k: v for k, v in env.items() if k.startswith(("YUNYING_", "AWS_"))}):
        population: Population = build(base_url=cluster.url, yunying=Path(sys.executable).with_name("yunying"),
                                       run=uuid.uuid4().hex[:6], patients=patients, slices=slices, size=256,
                                       threads=2)
    wait_idle(cluster, timeout=900, polls=3)
    people = []
    for patient in population.patients:
        http = requests.Session()
        login(http, base_url=cluster.url, openid=patient.openid)
        pid = patient.person_id
        items = http.get(f"{cluster.url}/api/v1/people/{pid}/timeline?limit=20", timeout=30).json()["items"]
        study = timeline_studies(items)[0]["ref_id"]
        detail = http.get(f"{cluster.url}/api/v1/people/{pid}/studies/{study}", timeout=30).json()
        series = max((s for s in detail["series"] if s.get("previews", {}).get("scrub")),
                     key=lambda s: s["instance_count"])
        scrub_url = series["previews"]["scrub"]
        scrub = http.get(cluster.url + scrub_url, timeout=30).json()
        previews = [u.format(window="default", width="512", ext=scrub["formats"]["jpeg"]) for u in scrub["frame_urls"]]
        people.append({"cookie": _cookie(http), "person": pid, "study": study, "scrub": scrub_url,
                       "previews": previews, "share": "/" + patient.share_url.split("/", 3)[3],
                       "share_code": patient.share_code, "openid": patient.openid, "local_id": patient.local_id,
                       "key": population.hospitals[patient.hospital].key,
                       "hospital": population.hospitals[patient.hospital].name})
    made = {"patients": patients, "slices": slices, "people": people, "run": population.run}
    saved.write_text(json.dumps(made, ensure_ascii=False), encoding="utf-8")
    return made


def requests_of(kind: str, made: dict[str, Any], *, host: str, count: int) -> list[Request]:
    """``count`` requests of one kind, the people taken in turn (previews: every frame in turn)."""
    def get(person: dict[str, Any], path: str, accept: str = "application/json") -> Request:
        return path, build_request(target=path, host=host, headers={"Cookie": person["cookie"], "Accept": accept})

    people = made["people"]
    if kind == "preview_render":  # a window no one asked for before (a custom one, as a dragged window
        # makes): rendered on the web node from the original, every frame once
        window = f"c{uuid.uuid4().int % 900 + 50}w{uuid.uuid4().int % 900 + 300}"
        frames = [(p, url.replace("/default/", f"/{window}/")) for p in people for url in p["previews"]]
        return [get(p, url, "image/jpeg") for p, url in frames[:count]]
    if kind == "stow":
        return stow_requests(made, host=host, studies=max(1, count // STOW_SLICES))
    if kind in ("preview", "preview_store"):
        frames = [(p, url) for p in people for url in p["previews"]]
        if kind == "preview_store":
            count = min(count, len(frames))  # each frame once: the first view of a slice
        return [get(p, url, "image/jpeg") for p, url in (frames[i % len(frames)] for i in range(count))]
    out: list[Request] = []
    for i in range(count):
        p = people[i % len(people)]
        base = f"/api/v1/people/{p['person']}"
        if kind == "share_open":
            body = json.dumps({"access_code": p["share_code"]}).encode()
            path = f"{p['share']}/session"
            out.append((path, build_request(method="POST", target=path, host=host, body=body,
                                            headers={"Content-Type": "application/json",
                                                     "Accept": "application/json"})))
            continue
        path = {"timeline": f"{base}/timeline?limit=20", "study_detail": f"{base}/studies/{p['study']}",
                "scrub": p["scrub"], "me": "/api/v1/me", "lab_trends": f"{base}/labs/trends",
                "report_pdf": f"{base}/studies/{p['study']}/report.pdf"}[kind]
        out.append(get(p, path, "application/pdf" if kind == "report_pdf" else "application/json"))
    return out


def stow_requests(made: dict[str, Any], *, host: str, studies: int) -> list[Request]:
    """STOW-RS of ``studies`` new CTs of STOW_SLICES 256-px slices (new instances each run), one request
    per study, from the people's home hospitals in turn."""
    from datetime import date, datetime

    from backend.clock import CST
    from tools.load.population import seed_of, stow_request, study_files

    out: list[Request] = []
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="yy-bench-kinds-stow-") as tmp:
        for i in range(studies):
            p = made["people"][i % len(made["people"])]
            paths = study_files(out_dir=Path(tmp) / str(i), seed=seed_of(made["run"], "bench-stow", tag, i),
                                local_id=p["local_id"], name="负载患者", resident_id=None, sex="M",
                                birth=date(1970, 1, 1), hospital_name=p["hospital"],
                                when=datetime(2026, 1, 1, 9, tzinfo=CST), slices=STOW_SLICES, size=256)
            body, headers = stow_request(key=p["key"], paths=paths)
            out.append(("/dicomweb/studies", build_request(method="POST", target="/dicomweb/studies", host=host,
                                                           headers=headers, body=body)))
    return out


def _logins(base_url: str, made: dict[str, Any], *, count: int, clients: int) -> tuple[list[float], float]:
    """``count`` whole WeChat logins (start, the simulator's authorize, the callback: 3 requests each) from
    ``clients`` threads; (latencies, this process's CPU seconds)."""
    from concurrent.futures import ThreadPoolExecutor

    from tools.load.browser import login

    def one(i: int) -> float:
        started = time.perf_counter()
        login(requests.Session(), base_url=base_url, openid=made["people"][i % len(made["people"])]["openid"],
              timeout=60)
        return time.perf_counter() - started

    cpu = time.process_time()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, range(count)))
    return latencies, time.process_time() - cpu


def _drop_node_copies(cluster: Any) -> None:
    for n in range(len(cluster.web_ports)):
        shutil.rmtree(cluster.root / f"web{n + 1}" / "derived-cache", ignore_errors=True)
        (cluster.root / f"web{n + 1}" / "derived-cache").mkdir(mode=0o700)


def _warm(cluster: Any, kind: str, made: dict[str, Any], clients: int) -> None:
    """Each node serves every request of the kind once (caches, connections, node copies warm)."""
    for n in range(len(cluster.web_ports)):
        base = cluster.node_url(n)
        reqs = requests_of(kind, made, host=urlsplit(base).netloc,
                           count=max(len(made["people"]) * 4, sum(len(p["previews"]) for p in made["people"])
                                     if kind == "preview" else 8))
        concurrent_requests(base_url=base, requests=reqs, clients=clients)


def measure(cluster: Any, kind: str, made: dict[str, Any], *, count: int, clients: int) -> dict[str, Any]:
    if kind == "preview_store":
        _drop_node_copies(cluster)
    elif kind in ("preview", "timeline", "study_detail", "scrub", "me", "lab_trends", "report_pdf", "share_open"):
        _warm(cluster, kind, made, clients)
    if kind == "login":
        count = min(count, 100)  # each login is three requests
        epoch, before = access_epoch(cluster), cpu_snapshot(components(cluster))
        started = time.perf_counter()
        latencies, client_cpu = _logins(cluster.url, made, count=count, clients=clients)
        wall = time.perf_counter() - started
        result = LoadResult(count / wall, latencies, 0, wall, client_cpu)
    elif kind == "preview_after_bump":
        _warm(cluster, "preview", made, clients)
        epoch, before = access_epoch(cluster), cpu_snapshot(components(cluster))
        result = _after_bumps(cluster, made, count=count, clients=clients)
    else:
        reqs = requests_of(kind, made, host=urlsplit(cluster.url).netloc, count=count)
        epoch, before = access_epoch(cluster), cpu_snapshot(components(cluster))
        result = concurrent_requests(base_url=cluster.url, requests=reqs, clients=clients)
    used = cpu_by_component(before, cpu_snapshot(components(cluster)))
    bumps = access_epoch(cluster) - epoch
    if kind == "stow":  # the worker pre-renders what arrived: not the web node's cost, and not the next kind's
        wait_idle(cluster, timeout=900, polls=3)
    # per request; a login per whole login, a STOW per instance
    n = len(result.latencies) * (STOW_SLICES if kind == "stow" else 1)
    per = {name: round(seconds * 1000 / n, 3) for name, seconds in sorted(used.items())}
    web = sum(v for k, v in per.items() if k.startswith("web"))
    return {"web": web, "all": sum(per.values()), "by_component": per, "client_cpu_ms": result.client_cpu * 1000 / n,
            "rate": result.rate, "p50_ms": statistics.median(result.latencies) * 1000, "requests": n,
            "epoch_bumps": bumps / n}


def idle(cluster: Any, *, seconds: float = 5.0) -> None:
    """What each component burns with no request at all (CPU-ms per second): the floor under every figure."""
    procs = components(cluster)
    before = cpu_snapshot(procs)
    time.sleep(seconds)
    used = cpu_by_component(before, cpu_snapshot(components(cluster)))
    per_s = {name: round(v * 1000 / seconds, 2) for name, v in sorted(used.items())}
    emit("idle_cpu_ms_per_s", sum(per_s.values()), "CPU-ms/s", by_component=per_s)


def run_kinds(cluster: Any, *, kinds: list[str], count: int, clients: int, rounds: int, patients: int,
              slices: int, label: str = "") -> dict[str, list[dict[str, Any]]]:
    made = plan(cluster, patients=patients, slices=slices)
    idle(cluster)
    done: dict[str, list[dict[str, Any]]] = {}
    for kind in kinds:
        results = done[kind] = [measure(cluster, kind, made, count=count, clients=clients) for _ in range(rounds)]
        def med(key: str, rs: list[dict[str, Any]] = results) -> float:
            return float(statistics.median(r[key] for r in rs))
        names = sorted({c for r in results for c in r["by_component"]})
        by_component = {c: round(statistics.median(r["by_component"].get(c, 0.0) for r in results), 3) for c in names}
        emit(f"{kind}_web_cpu_ms", med("web"), "CPU-ms/request", all_cpu_ms=round(med("all"), 2),
             by_component=by_component, client_cpu_ms=round(med("client_cpu_ms"), 3), rate=round(med("rate"), 1),
             p50_ms=round(med("p50_ms"), 2), requests=results[0]["requests"], clients=clients, rounds=rounds,
             per_round_web=[round(r["web"], 2) for r in results],
             epoch_bumps=round(med("epoch_bumps"), 3), **({"label": label} if label else {}))
    return done


def _own_cluster(body: Callable[[Any], None]) -> None:
    from tools.cluster import Cluster
    from tools.cluster.services import NAMES, missing

    reason = missing()
    if reason or (shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists()):
        emit("preview_web_cpu_ms", 0, "CPU-ms/request", skipped=reason or "nginx is not installed")
        return
    tag = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="yy-bench-kinds-"))
    cluster = Cluster(work / "cluster", port_base=int(os.environ.get("BENCH_KINDS_PORT", "8890")),
                      database=f"yy_bench_kinds_{tag}", vhost=f"yy-bench-kinds-{tag}", private=NAMES)
    try:
        cluster.up()
        body(cluster)
    finally:
        cluster.down(purge=True)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster-dir", type=Path, help="attach to this running cluster (tools.cluster up)")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--patients", type=int, default=2)
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {sorted(unknown)}")

    def body(cluster: Any) -> None:
        run_kinds(cluster, kinds=kinds, count=args.requests, clients=args.clients, rounds=args.rounds,
                  patients=args.patients, slices=args.slices, label=args.label)

    if args.cluster_dir is None:
        _own_cluster(body)
        return 0
    from tools.cluster import Cluster

    body(Cluster.attach(args.cluster_dir))
    return 0


def run() -> None:
    """``make bench``: a cluster of its own, a smaller run."""
    main(["--requests", "200", "--slices", "60"])


if __name__ == "__main__":
    raise SystemExit(main())
