"""One load run, start to verdict: build the population, run Locust headless, then prove nothing
acknowledged was lost and write the report.

    .venv/bin/python -m tools.load.run --url http://127.0.0.1:8000 --users 200 --minutes 10 --out load-results/

Runs against any topology that answers at ``--url`` (``make run``, or the cluster's proxy); the CLI of
that deployment must work here (same ``YUNYING_*`` settings in the environment: hospitals are made with
``yunying institution create`` and the audit chain is checked with ``yunying audit verify``).

Verdict (exit 1 when any fails): no server error (5xx) on any request, < 0.1 % failed requests, every
instance a hospital got a 200 for retrievable byte-exact through WADO-RS, and the audit chain verifies.
Latency service levels (issue 18) are reported beside, met or not; they are not a test's pass mark on a
shared machine (benchmarks, not unit tests, hold speed targets).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from tools.cluster import Cluster
from tools.load import cluster_checks
from tools.load import population as populations
from tools.load.browser import hospital
from tools.load.client_cpu import ClientCpuSampler
from tools.load.faults import FaultScript, script
from tools.load.report import write_report

# issue 18: the standard run's service levels (name in the load model, percentile, ms)
SERVICE_LEVELS = [("timeline", "95%", 200), ("preview image", "95%", 150), ("preview image", "99%", 400),
                  ("first image of a study", "95%", 1000)]
_STATUS = re.compile(r"\b([1-5]\d\d)\b")


@dataclass(frozen=True)
class Verdict:
    requests: int
    failures: int
    server_errors: int
    acknowledged: int
    lost: list[str]
    audit_ok: bool
    levels: list[dict[str, object]]
    faults: list[dict[str, object]]
    errors: dict[str, int]
    cluster: dict[str, object]  # on the cluster: memory, backlog drain, notices (cluster_checks.py)
    locust_exit: int = 0  # not 0: Locust itself failed (its output says why)
    client_cpu: dict[str, object] | None = None  # the load client's own CPU (client_cpu.py)

    @property
    def passed(self) -> bool:
        return (self.server_errors == 0 and self.failures <= self.requests * 0.001 and not self.lost
                and self.audit_ok and not any(f.get("error") for f in self.faults) and self.locust_exit == 0)


def run_locust(*, url: str, out: Path, population: Path, users: int, seconds: int, hospitals: int,
               scroll: int, faults: FaultScript | None = None,
               memory: cluster_checks.MemorySampler | None = None,
               client_cpu: dict[str, object] | None = None, client: str = "requests") -> int:
    """Locust's exit code: the verdict is still drawn when it is not 0, so what was measured is kept.
    ``client_cpu`` receives Locust's own CPU over the run (client_cpu.py)."""
    env = {**os.environ, "LOAD_POPULATION": str(population), "LOAD_LEDGER": str(out / "ledger.jsonl"),
           "LOAD_HOSPITALS": str(hospitals), "LOAD_SCROLL_LIMIT": str(scroll), "LOAD_CLIENT": client}
    locustfile = Path(__file__).with_name("locustfile.py")
    command = [str(Path(sys.executable).with_name("locust")), "-f", str(locustfile), "--headless", "--host", url,
               "-u", str(users + hospitals), "-r", str(max(1, users // 10)), "-t", f"{seconds}s",
               "--csv", str(out / "locust"), "--csv-full-history", "--only-summary", "--stop-timeout", "30",
               "--exit-code-on-error", "0"]
    locust = subprocess.Popen(command, env=env)  # noqa: S603 - Locust from this venv
    stop = threading.Event()
    started = time.monotonic()
    threads = [threading.Thread(target=faults.run, args=(started, stop))] if faults else []
    threads += [threading.Thread(target=memory.run, args=(started, stop))] if memory else []
    cpu = ClientCpuSampler(locust.pid, out)
    threads.append(threading.Thread(target=cpu.run, args=(started, stop)))
    for thread in threads:
        thread.start()
    try:
        return locust.wait()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        if client_cpu is not None:
            client_cpu.update(cpu.summary())


def _parts(body: bytes, content_type: str) -> list[bytes]:
    """The bodies of an RFC 2387 multipart answer (each part's headers end at the first blank line)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if not boundary:
        return []
    parts = []
    for chunk in body.split(b"--" + boundary.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        _, _, rest = chunk.partition(b"\r\n\r\n")
        parts.append(rest[:-2] if rest.endswith(b"\r\n") else rest)
    return parts


def lost_instances(*, url: str, ledger: Path, keys: list[str]) -> tuple[int, list[str]]:
    """Every acknowledged instance, fetched per series through WADO-RS and compared by sha256."""
    if not ledger.exists():
        return 0, []
    wanted: dict[tuple[int, str, str], dict[str, str]] = defaultdict(dict)
    for line in ledger.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        wanted[(row["hospital"], row["study"], row["series"])][row["instance"]] = row["sha256"]
    lost: list[str] = []
    for (index, study, series), instances in wanted.items():
        res = requests.get(f"{url}/dicomweb/studies/{study}/series/{series}", timeout=120,
                           headers={**hospital(keys[index]), "Accept": 'multipart/related; type="application/dicom"'})
        got = {hashlib.sha256(part).hexdigest() for part in _parts(res.content, res.headers.get("content-type", ""))}
        lost += [uid for uid, digest in instances.items() if digest not in got]
    return sum(len(v) for v in wanted.values()), lost


def read_stats(out: Path) -> tuple[int, int, int, dict[str, dict[str, str]], dict[str, int]]:
    """Requests, failures, server errors, the stats rows by name, and failures by (name, status)."""
    rows = {row["Name"]: row for row in csv.DictReader((out / "locust_stats.csv").open(encoding="utf-8"))}
    total = rows.get("Aggregated", {})
    server_errors = 0
    by_status: dict[str, int] = defaultdict(int)
    with (out / "locust_failures.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            status = _STATUS.search(row["Error"])
            if status is None or status.group(1).startswith("5"):  # a refused connection counts as a server error
                server_errors += int(row["Occurrences"])
            by_status[f"{row['Name']}: {status.group(1) if status else 'no answer'}"] += int(row["Occurrences"])
    return (int(total.get("Request Count", 0)), int(total.get("Failure Count", 0)), server_errors, rows,
            dict(by_status))


def verdict(*, url: str, out: Path, keys: list[str], yunying: Path, faults: FaultScript | None = None,
            cluster: dict[str, object] | None = None, locust_exit: int = 0,
            client_cpu: dict[str, object] | None = None) -> Verdict:
    count, failures, server_errors, rows, errors = read_stats(out)
    acknowledged, lost = lost_instances(url=url, ledger=out / "ledger.jsonl", keys=keys)
    audit = subprocess.run([str(yunying), "audit", "verify"], capture_output=True, text=True)  # noqa: S603
    levels = []
    for name, percentile, limit in SERVICE_LEVELS:
        value = rows.get(name, {}).get(percentile) or ""
        measured = float(value) if value not in ("", "N/A") else None
        levels.append({"name": name, "percentile": percentile, "limit_ms": limit, "ms": measured,
                       "met": measured is not None and measured <= limit})
    windows: list[dict[str, object]] = [{"target": w.target, "kind": w.kind, "start_s": round(w.start_s, 1),
                                         "end_s": None if w.end_s is None else round(w.end_s, 1)}
                                        for w in (faults.windows if faults else [])]
    history = out / "locust_stats_history.csv"
    if windows and history.exists():
        windows = cluster_checks.fault_effects(history, windows)
    windows += [{"error": error} for error in (faults.errors if faults else [])]
    return Verdict(requests=count, failures=failures, server_errors=server_errors, acknowledged=acknowledged,
                   lost=lost, audit_ok=audit.returncode == 0, levels=levels, faults=windows, errors=errors,
                   cluster=cluster or {}, locust_exit=locust_exit, client_cpu=client_cpu or {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("load-results"))
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--hospitals", type=int, default=4)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--slices", type=int, default=300, help="slices of each person's CT (the scroll)")
    parser.add_argument("--population", type=Path, help="reuse a population file instead of building one")
    parser.add_argument("--cluster-dir", type=Path, help="the cluster (tools/cluster/) the faults act on")
    parser.add_argument("--fault", action="append", default=[], help="SECONDS:ACTION (tools/load/faults.py)")
    parser.add_argument("--client", choices=["requests", "fast"], default="requests",
                        help="Locust's HTTP client: HttpUser (requests) or FastHttpUser (geventhttpclient)")
    args = parser.parse_args(argv)
    if args.fault and not args.cluster_dir:
        parser.error("--fault needs --cluster-dir")
    faults = script(cluster_dir=args.cluster_dir, specs=args.fault) if args.fault else None
    cluster = Cluster.attach(args.cluster_dir) if args.cluster_dir else None
    if cluster is not None:  # the CLI this run calls (institutions, audit verify) acts on that deployment
        os.environ.update(cluster.env(cluster.root / "admin"))
    memory = cluster_checks.MemorySampler(cluster, args.out) if cluster else None
    url = args.url.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    yunying = Path(sys.executable).with_name("yunying")
    population_file = args.population or args.out / "population.json"
    if args.population is None:
        built = populations.build(base_url=url, yunying=yunying, run=datetime.now().strftime("%H%M%S"),
                                  patients=args.patients, slices=args.slices, size=256)
        built.save(population_file)
    people = populations.Population.load(population_file)
    checks: dict[str, object] = {}
    if cluster is not None:
        # The people's own studies arrived before this morning and were pre-rendered then: start once the
        # population's pre-rendering has drained, or the first minute measures a backlog that only the
        # harness made (every first open of a study would build its whole series on a web node).
        checks["population_prerender_wait_s"] = cluster_checks.drain_seconds(cluster)
        print(f"population pre-rendered after {checks['population_prerender_wait_s']} s more", flush=True)
    client_cpu: dict[str, object] = {}
    code = run_locust(url=url, out=args.out, population=population_file, users=args.users,
                      seconds=int(args.minutes * 60), hospitals=args.hospitals, scroll=args.slices, faults=faults,
                      memory=memory, client_cpu=client_cpu, client=args.client)
    if cluster is not None and memory is not None:
        checks["backlog_drain_s"] = cluster_checks.drain_seconds(cluster)  # from the end: the uploads stopped
        checks["notices"] = cluster_checks.notices(cluster)
        checks["memory"] = memory.verdict(warmup_s=min(60.0, args.minutes * 60 / 4))
    result = verdict(url=url, out=args.out, keys=[h.key for h in people.hospitals], yunying=yunying, faults=faults,
                     cluster=checks, locust_exit=code, client_cpu=client_cpu)
    write_report(out=args.out, verdict=result.__dict__, title=f"{args.users} users, {args.hospitals} hospitals, "
                 f"{args.minutes:g} min against {url}")
    print(json.dumps({**result.__dict__, "lost": len(result.lost), "passed": result.passed}, ensure_ascii=False))
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
