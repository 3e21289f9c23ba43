"""The request path's fixed cost on PostgreSQL (issue 18): a patient's timeline and ``/api/v1/me`` over
HTTP, one client and several at once, with the audit group commit (access/audit_group.py) against the
reference where every read writes its own audit event (``YUNYING_AUDIT_GROUP_COMMIT=false``).

Two `yunying serve` processes on one scratch database (``yunying_bench_reqpath`` next to
``YUNYING_BENCH_DATABASE_URL`` / the test PostgreSQL URL; dropped afterwards) with the demo records (a
10-slice CT), one per setting; rounds alternate between them (ABBA) so the machine's noise falls on both.
Per round and server: ``BENCH_RP_SEQ`` (200) sequential timeline GETs from one keep-alive client, and
``BENCH_RP_CLIENTS`` (8) clients × ``BENCH_RP_PER_CLIENT`` (50) timeline GETs at once (benchmarks/httpload.py,
client CPU beside). Medians over ``BENCH_RP_ROUNDS`` (5) rounds; ratios are group / reference.

    python -m benchmarks.bench_request_path
"""
# ruff: noqa: S603 - starts our own CLI

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from benchmarks.httpload import concurrent_get

BENCH = "request_path"
ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NAME = "yunying_bench_reqpath"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _database() -> Iterator[str]:
    base = make_url(os.environ.get("YUNYING_BENCH_DATABASE_URL") or os.environ.get("YUNYING_TEST_DATABASE_URL")
                    or PG_DEFAULT)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{NAME}"')
    try:
        yield base.set(database=NAME).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


def _env(url: str, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNYING_")}
    env.update({"YUNYING_ENV": "test", "YUNYING_DATABASE_URL": url, "YUNYING_DATA_DIR": str(data),
                "YUNYING_SECRET_KEY": "b" * 43, "YUNYING_ENCRYPTION_KEY": "c" * 43,
                "YUNYING_BLIND_INDEX_KEY": "d" * 43})
    return env


def _seed(env: dict[str, str]) -> str:
    """Migrate, the demo records (a 10-slice CT) and WeChat users; a session of demo-patient (its cookie)."""
    code = (
        "from backend import migrate, plugins; plugins.install()\n"
        "from backend.config import load_settings; from backend.db import make_engine, session_scope\n"
        "from backend.demo_records import seed_records; from backend.auth.demo import seed_wechat\n"
        "from backend.auth import sessions; from backend.auth.models import Account; from sqlmodel import select\n"
        "s = load_settings(); migrate.upgrade(s.effective_database_url); e = make_engine(s.effective_database_url)\n"
        "seed_records(settings=s, engine=e, ct_slices=10); seed_wechat(settings=s, engine=e)\n"
        "with session_scope(e) as db:\n"
        "    a = db.exec(select(Account).where(Account.openid == 'demo-patient')).one()\n"
        "    print(sessions.start_session(db, settings=s, account_id=a.id).access_token)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=True)
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def _server(env: dict[str, str], *, group: bool) -> Iterator[str]:
    port = _port()
    log = open(Path(env["YUNYING_DATA_DIR"]) / f"serve-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port)], env={**env, "YUNYING_AUDIT_GROUP_COMMIT": "true" if group else "false"},
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _sequential(url: str, path: str, cookie: str, n: int) -> float:
    times = []
    with httpx.Client(base_url=url, cookies={"yy_session": cookie}, timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            assert client.get(path).status_code == 200
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run() -> None:
    try:
        with psycopg.connect(make_url(os.environ.get("YUNYING_BENCH_DATABASE_URL") or os.environ.get(
                "YUNYING_TEST_DATABASE_URL") or PG_DEFAULT).set(drivername="postgresql").render_as_string(
                hide_password=False), connect_timeout=3):
            pass
    except psycopg.Error as exc:
        print(json.dumps({"bench": BENCH, "metric": "skipped", "value": 0, "unit": "",
                          "detail": f"PostgreSQL unreachable: {type(exc).__name__}"}))
        return
    rounds = int(os.environ.get("BENCH_RP_ROUNDS", "5"))
    seq = int(os.environ.get("BENCH_RP_SEQ", "200"))
    clients = int(os.environ.get("BENCH_RP_CLIENTS", "8"))
    per_client = int(os.environ.get("BENCH_RP_PER_CLIENT", "50"))
    with _database() as url, tempfile.TemporaryDirectory(prefix="yy-bench-rp-") as tmp:
        env = _env(url, Path(tmp))
        cookie = _seed(env)
        figures: dict[str, dict[str, list[float]]] = {"group": {}, "reference": {}}
        with _server(env, group=False) as reference, _server(env, group=True) as group:
            person = httpx.get(f"{group}/api/v1/me", cookies={"yy_session": cookie}).json()["person"]["id"]
            timeline = f"/api/v1/people/{person}/timeline?limit=20"
            for url_ in (reference, group):  # warm both
                _sequential(url_, timeline, cookie, 30)
            for n in range(rounds):
                order = [("reference", reference), ("group", group)]
                for name, base in (order if n % 2 == 0 else order[::-1]):  # ABBA: the order's effect cancels
                    got = figures[name]
                    got.setdefault("timeline_p50_ms", []).append(_sequential(base, timeline, cookie, seq))
                    got.setdefault("me_p50_ms", []).append(_sequential(base, "/api/v1/me", cookie, seq))
                    load = concurrent_get(base_url=base, urls=[timeline] * (clients * per_client), clients=clients,
                                          headers={"Cookie": f"yy_session={cookie}"})
                    ordered = sorted(load.latencies)
                    got.setdefault("timeline_concurrent_rps", []).append(load.rate)
                    got.setdefault("timeline_concurrent_p50_ms", []).append(statistics.median(ordered) * 1000)
                    got.setdefault("timeline_concurrent_p95_ms", []).append(ordered[int(len(ordered) * 0.95)] * 1000)
                    got.setdefault("client_cpu_s", []).append(load.client_cpu)
    for metric in figures["group"]:
        ref, grp = statistics.median(figures["reference"][metric]), statistics.median(figures["group"][metric])
        unit = "req/s" if metric.endswith("rps") else "s" if metric.endswith("_s") else "ms"
        print(json.dumps({"bench": BENCH, "metric": metric, "value": round(grp, 2), "unit": unit,
                          "reference": round(ref, 2), "ratio": round(grp / ref, 3) if ref else None,
                          "rounds": rounds, "clients": clients if "concurrent" in metric or "cpu" in metric else 1}))


if __name__ == "__main__":
    run()
