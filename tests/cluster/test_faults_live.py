"""Faults on the cluster, one at a time, with real processes (issues 17 and 18): the object store stopped,
RabbitMQ restarted, PostgreSQL restarted, Redis stopped, a node's disk full. The cluster has PostgreSQL,
Redis and RabbitMQ of its own (tools/cluster/services.py): the machine's shared ones are never touched.

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
import subprocess
import sys
import time
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
    window = probes.watch("object store stopped", down=lambda: private_cluster.stop_service("s3"),
                          up=lambda: private_cluster.start_service("s3"), hold_s=10)
    _check(window)
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
    assert 503 in _during(window, "timeline"), window.summary()
    assert _codes(window, "timeline") == {"database-unavailable"}
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
    assert set(_during(window, "share")) == {503}  # the access code's attempts are counted in Redis
    # the share page says so; a POST of the code met mid-way answers the same as problem+json
    assert _codes(window, "share") <= {"page:登录与验证服务暂时不可用，请稍后再试", "shared-state-unavailable"}
    for kind in ("timeline", "preview", "stow"):  # images keep flowing, in and out
        assert set(_during(window, kind)) == {200}, (kind, window.summary())
    probes.resend_refused()


def test_a_full_disk_on_a_node_answers_503_and_recovers(private_cluster: Cluster, probes: Probes) -> None:
    """Web node 1's request spool on a 2 MB tmpfs, filled but for 16 kB: a STOW-RS to that node cannot
    spool its parts. Everything else on the node goes on; freeing the space ends the fault."""
    spool = private_cluster.spool(0)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(spool)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()[:200]}")
    ballast = spool / "ballast"
    node = private_cluster.node_url(0)
    try:
        def fill() -> None:
            free = 2 * 1024 * 1024
            with ballast.open("wb") as out:
                out.write(b"\0" * (free - 16 * 1024))

        window = Window(name="disk full", start=time.monotonic())
        fill()
        body = probes.new_study(slices=40)  # ~80 kB of parts: more than the 16 kB left
        for _ in range(3):
            res = probes.send(body, url=node)
            window.seen.append(probes.once("timeline", url=node))
            window.seen.append(probes.once("preview", url=node))
            code = res.json().get("code") if res.headers.get("content-type", "").startswith(
                "application/problem+json") else None
            window.seen.append(Seen(time.monotonic(), "stow", res.status_code, res.headers.get("retry-after"), code))
        ballast.unlink()
        window.back = time.monotonic()
        again = probes.send(body, url=node)
        window.normal = time.monotonic() if again.status_code == 200 else None
        window.seen += [probes.once(kind, url=node) for kind in KINDS]
        _check(window)
        assert _codes(window, "stow") == {"out-of-resources"}, window.summary()
        assert set(_during(window, "timeline")) == {200}
        assert again.status_code == 200, again.text[:300]
    finally:
        subprocess.run(["umount", "-l", str(spool)], capture_output=True, check=False)


def test_after_every_fault_nothing_acknowledged_is_lost_and_the_audit_chain_verifies(
        private_cluster: Cluster, probes: Probes) -> None:
    probes.resend_refused()
    acknowledged, lost = probes.lost()
    assert acknowledged > 0 and lost == []
    audit = _cli(private_cluster, "-m", "backend.cli", "audit", "verify")
    assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr[-2000:]
    for n in range(2):  # no node was restarted by any fault
        assert private_cluster.status()["processes"][f"web{n + 1}"] == "up"
