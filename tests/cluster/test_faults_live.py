"""Faults on the cluster, one at a time, with real processes (issues 17 and 18): the object store stopped,
RabbitMQ restarted, PostgreSQL restarted, Redis stopped, a node's disk full, a web node killed with
writes in flight. The cluster has PostgreSQL, Redis and RabbitMQ of its own
(tools/cluster/services.py): the machine's shared ones are never touched.

While each part is down a probe loop acts as people do (tests/cluster/probes.py: timeline, preview
image, a first login, a doctor opening a share with its code, a hospital's STOW-RS). For each fault:
what users saw (any answer that is not a success must be a 503 with Retry-After — never a 500, never a
dropped connection), how long until every kind of request answered as usual again (without restarting
a node), and that nothing acknowledged was lost (every instance a hospital got a 200 for reads back
byte-exact; refused uploads sent again are stored whole). The last test checks the audit chain.

Outages are shorter than the standard run's (object store 10 s instead of 30, Redis 8 s instead of 60):
what users see depends on whether the part answers, not on for how long it does not — the clients'
timeouts (Redis 1–2 s, PostgreSQL connect, S3) are all shorter than the outage here — and the whole
file must fit `make test`'s budget. The full-length outages run in the standard run (docs/load.md).
Each window's figures are printed (``pytest -s``) as one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import date, datetime

import pytest
import requests

from backend.clock import CST
from tests.cluster.probes import KINDS, Probes, Seen, Window, ok
from tests.conftest import ROOT
from tools.cluster import Cluster
from tools.load.population import Population, study_files

pytestmark = [pytest.mark.live, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _cli(cluster: Cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=cluster.env(cluster.root / "admin"), text=True,
                          capture_output=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def probes(private_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Probes:
    work = tmp_path_factory.mktemp("probes")
    built = _cli(private_cluster, "-m", "tools.load.population", "--url", private_cluster.url, "--out",
                 str(work / "population.json"), "--patients", "1", "--slices", "6", "--size", "64", "--run", "f")
    assert built.returncode == 0, built.stderr[-3000:]
    return Probes(url=private_cluster.url, population=Population.load(work / "population.json"), work=work)


def _check(window: Window) -> None:
    """What every fault must keep: no 500, no dropped connection, each refusal a 503 with Retry-After,
    and normal service again with no node restarted."""
    print(json.dumps(window.summary(), ensure_ascii=False))
    for seen in window.seen:
        if not ok(seen):
            assert seen.status == 503 and seen.retry_after, (seen, window.errors())
    assert window.normal is not None, window.summary()


def _during(window: Window, kind: str) -> list[int]:
    """Statuses of the requests of ``kind`` that were sent and answered while the part was down."""
    assert window.back is not None
    # A second after the stop returned: a request sent just before it may still have been answered.
    since = window.start if window.down is None else window.down + 1.0
    until = window.starting or window.back
    return [s.status for s in window.seen if s.kind == kind and since <= s.at <= until]


def _codes(window: Window, kind: str) -> set[str | None]:
    return {s.code for s in window.seen if s.kind == kind and not ok(s)}


def test_the_object_store_stopped_answers_503_and_recovers_without_a_restart(private_cluster: Cluster,
                                                                              probes: Probes) -> None:
    for _ in range(2):  # the probe's preview viewed on each web node before the stop (the second: a read)
        for n in range(len(private_cluster.web_ports)):
            assert probes.once("preview", url=private_cluster.node_url(n)).status == 200
        time.sleep(1)
    window = probes.watch("object store stopped", down=lambda: private_cluster.stop_service("s3"),
                          up=lambda: private_cluster.start_service("s3"), hold_s=10)
    _check(window)
    # each web node serves its own copy of what it served before (storage/nodecache.py)
    assert set(_during(window, "preview")) == {200}, window.summary()
    assert 503 in _during(window, "stow"), window.summary()  # a hospital's upload needs the store
    assert _codes(window, "stow") == {"storage-unavailable"}
    assert set(_during(window, "timeline")) == {200}  # the timeline is the database's alone
    probes.resend_refused()  # never a half-written object: each refused study is now stored whole
    acknowledged, lost = probes.lost()
    assert acknowledged > 0 and lost == []


def _inbox(url: str, openid: str) -> list[dict[str, object]]:
    got = requests.get(f"{url}/_sim/wechat/inbox", params={"kind": "template"}, timeout=30).json()
    return [m for m in got if m.get("to") == openid]


def _prerenders_done(cluster: Cluster) -> int:
    log = cluster.root / "logs" / "worker.log"
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if "yunying.prerender[" in line and "succeeded" in line)


def test_rabbitmq_restarted_loses_no_job(private_cluster: Cluster, probes: Probes) -> None:
    patient = probes.patient
    hospital = probes.people.hospitals[patient.hospital]
    before_notices = len(_inbox(private_cluster.url, patient.openid))
    before_renders = _prerenders_done(private_cluster)
    new = study_files(out_dir=probes.work / "for-patient", seed=7001, local_id=patient.local_id, name="负载患者",
                      resident_id=None, sex="M", birth=date(1960, 1, 1), hospital_name=hospital.name,
                      when=datetime.now(CST), slices=3, size=64)

    def down() -> None:
        private_cluster.stop_service("rabbitmq")
        res = probes.send(new)  # committed with its jobs in the outbox while no broker answers
        assert res.status_code == 200, res.text[:300]

    window = probes.watch("RabbitMQ restarted", down=down, up=lambda: private_cluster.start_service("rabbitmq"),
                          hold_s=5)
    _check(window)
    assert window.errors() == {}  # users never see the broker: jobs wait in the outbox
    deadline = time.monotonic() + 90
    with_outbox = None
    while time.monotonic() < deadline:
        import psycopg

        with psycopg.connect(private_cluster.database_url.replace("+psycopg", "")) as conn:
            (with_outbox,) = conn.execute("SELECT count(*) FROM job_outbox WHERE kind IN ('prerender', "
                                          "'notify')").fetchone() or (None,)
        depths = private_cluster.queue_depths()
        if with_outbox == 0 and depths and sum(r + u for r, u in depths.values()) == 0 and \
                len(_inbox(private_cluster.url, patient.openid)) > before_notices:
            break
        time.sleep(1)
    else:
        pytest.fail(f"jobs not done 90 s after the broker came back: outbox {with_outbox}, "
                    f"queues {private_cluster.queue_depths()}")
    assert _prerenders_done(private_cluster) > before_renders  # the worker reconnected and pre-rendered
    time.sleep(3)  # a second notice, if any, would be sent by now
    assert len(_inbox(private_cluster.url, patient.openid)) == before_notices + 1  # exactly once


def test_postgresql_restarted_answers_503_and_recovers(private_cluster: Cluster, probes: Probes) -> None:
    # A restart that takes 3 s, as one with crash recovery or a failover does (a bare fast restart here
    # takes 0.3 s, shorter than one probe cycle).
    window = probes.watch("PostgreSQL restarted", down=lambda: private_cluster.stop_service("postgres"),
                          up=lambda: private_cluster.start_service("postgres"), hold_s=3)
    _check(window)
    # A read sent while the database was down waits (a new connection is retried for 3 s, a read cut off
    # is run again for up to 5 s: db.py, api/db_retry.py) and is answered once it is back; what waits
    # longer answers 503 + Retry-After as before.
    # The probe loop is sequential: a request that waits holds back the next, so what can fail is the one
    # or two in flight when the outage outlasted the bound — before this round every request sent during
    # the outage failed at once (13 of each kind in 3 s).
    failed = [s for s in window.seen if not ok(s)]
    assert len(failed) <= 2, window.summary()
    assert _codes(window, "timeline") <= {"database-unavailable"}
    probes.resend_refused()
    acknowledged, lost = probes.lost()
    assert acknowledged > 0 and lost == []


def test_redis_stopped_logins_and_limits_answer_clearly_and_images_keep_flowing(private_cluster: Cluster,
                                                                                 probes: Probes) -> None:
    window = probes.watch("Redis stopped", down=lambda: private_cluster.stop_service("redis"),
                          up=lambda: private_cluster.start_service("redis"), hold_s=8)
    _check(window)
    assert set(_during(window, "login")) == {503}, window.summary()  # the page says: sign-in briefly unavailable
    assert _codes(window, "login") == {"busy"}
    # a doctor's share opens: its access-code attempts are counted in the database (sharing/pages.py)
    for kind in ("share", "timeline", "preview", "stow"):  # images keep flowing, in and out
        assert set(_during(window, kind)) == {200}, (kind, window.summary())
    probes.resend_refused()


def test_a_full_disk_on_a_node_answers_503_and_recovers(private_cluster: Cluster, probes: Probes) -> None:
    """Web node 1's request spool on a 2 MB tmpfs, filled but for 16 kB: a STOW-RS to that node cannot
    spool its parts. Everything else on the node goes on; freeing the space ends the fault."""
    node = private_cluster.node_url(0)
    try:
        window = Window(name="disk full", start=time.monotonic())
        try:
            private_cluster.fill_spool(0)  # the same fault as the standard run's fill-disk-1 (tools/load/faults.py)
        except RuntimeError as exc:
            pytest.skip(str(exc))
        body = probes.new_study(slices=40)  # ~80 kB of parts: more than the 16 kB left
        for _ in range(3):
            res = probes.send(body, url=node)
            window.seen.append(probes.once("timeline", url=node))
            window.seen.append(probes.once("preview", url=node))
            code = res.json().get("code") if res.headers.get("content-type", "").startswith(
                "application/problem+json") else None
            window.seen.append(Seen(time.monotonic(), "stow", res.status_code, res.headers.get("retry-after"), code))
        private_cluster.free_spool(0)
        window.back = time.monotonic()
        again = probes.send(body, url=node)
        window.normal = time.monotonic() if again.status_code == 200 else None
        window.seen += [probes.once(kind, url=node) for kind in KINDS]
        _check(window)
        assert _codes(window, "stow") == {"out-of-resources"}, window.summary()
        assert set(_during(window, "timeline")) == {200}
        assert again.status_code == 200, again.text[:300]
    finally:
        private_cluster.free_spool(0)


PER_KIND = 6  # of each kind at once: the proxy's round robin gives about half of them to the node that dies


def _db(cluster: Cluster, query: str, *args: object) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(cluster.database_url.replace("+psycopg", "")) as conn:
        return list(conn.execute(query, args).fetchall())


def test_a_web_node_killed_with_writes_in_flight_answers_none_of_them_502(private_cluster: Cluster,
                                                                            probes: Probes) -> None:
    """Web node 2 is stopped (SIGSTOP), every kind of write is sent through the proxy — the ones nginx
    gives node 2 wait there, sent and unanswered — and then node 2 is killed -9: the proxy sends each of
    them to node 1 (deploy/nginx/yunying.conf). Share opens, the hospitals' lab and report PUTs and
    WeChat's pushes must all succeed, each counted once; a STOW-RS, streamed through the proxy, may be
    cut (502) and is then sent again by the hospital, as a PACS gateway does, and stored whole."""
    doctors = [probes.doctor() for _ in range(PER_KIND)]
    report = probes.report()
    assert probes.hospital_report(report)[1] in (200, 201)  # stored once; each resend of it changes nothing
    opens_before = dict(_db(private_cluster, "SELECT id, opens FROM share"))
    msg_ids = [int(time.time() * 1000) * 10 + n for n in range(PER_KIND)]
    calls = [*(lambda d=d: probes.share_open(d) for d in doctors),
             *(lambda n=n: probes.hospital_lab(n) for n in range(PER_KIND)),
             *(lambda: probes.hospital_report(report) for _ in range(PER_KIND)),
             *(lambda m=m: probes.wechat_push(m) for m in msg_ids),
             *(probes.stow_once for _ in range(PER_KIND))]
    errors_log = private_cluster.root / "nginx" / "error.log"
    log_before = errors_log.stat().st_size if errors_log.exists() else 0
    node = private_cluster.pid("web-2")
    os.killpg(node, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            sent = [pool.submit(call) for call in calls]
            time.sleep(2.5)  # each request is on its node by now; node 2's wait there, unanswered
            private_cluster.kill("web-2")
            answers = Counter(f.result() for f in sent)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(node, signal.SIGKILL)
        private_cluster.start_web(1)
    print(json.dumps({"in flight on a killed node": {f"{k} {s}": n for (k, s), n in answers.items()}},
                     ensure_ascii=False))
    with errors_log.open("rb") as log:
        log.seek(log_before)
        cut = log.read().decode(errors="replace")
    port = private_cluster.web_ports[1]
    # Proof that each kind really was in flight on the node that died (nginx logs each cut request).
    for path in ("/session", "/lab-reports/", "/reports/by-study-uid/", "/_sim/wechat/push"):
        assert any(path in line and f":{port}" in line for line in cut.splitlines()), (path, cut[-3000:])
    for kind, status in answers:
        if kind.startswith("stow"):
            assert status == 200, answers  # stored, at the latest when sent again
        else:
            assert status in (200, 201), answers
    # Each counted once: one open per doctor, each push once (deduplicated by MsgId).
    opens_after = dict(_db(private_cluster, "SELECT id, opens FROM share"))
    grown = {k: int(v) - int(opens_before.get(k, 0)) for k, v in opens_after.items()  # type: ignore[call-overload]
             if v != opens_before.get(k)}
    assert list(grown.values()) == [PER_KIND], grown
    keys = [f"msg:{m}" for m in msg_ids]
    assert len(_db(private_cluster, "SELECT dedup_key FROM wechat_inbound WHERE dedup_key = ANY(%s)", keys)) == PER_KIND
    acknowledged, lost = probes.lost()
    assert acknowledged > 0 and lost == []


def test_after_every_fault_nothing_acknowledged_is_lost_and_the_audit_chain_verifies(
        private_cluster: Cluster, probes: Probes) -> None:
    probes.resend_refused()
    acknowledged, lost = probes.lost()
    assert acknowledged > 0 and lost == []
    audit = _cli(private_cluster, "-m", "backend.cli", "audit", "verify")
    assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr[-2000:]
    for n in range(2):  # every node is up (node 2 again, after its kill)
        assert private_cluster.status()["processes"][f"web{n + 1}"] == "up"
