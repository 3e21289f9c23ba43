"""The cluster (tools/cluster/: nginx, two web nodes, a worker, SeaweedFS S3, PostgreSQL, RabbitMQ):
kill -9 of the web node receiving a 300-instance STOW-RS upload through the proxy. The client's retry
(`yunying upload` retries 502/503/504 and dropped connections) completes on the other node; every
instance is stored once and reads back byte for byte; the dead node left nothing behind that another
node would need.

Skipped unless nginx, RabbitMQ (rabbitmqctl), PostgreSQL and the SeaweedFS binary are here.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

from tests.conftest import ROOT
from tests.ingest.test_stow_live import _parts
from tools.cluster import Cluster
from tools.synthetic import write_ct_series

pytestmark = [pytest.mark.live, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
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


def test_the_proxy_routes_to_the_nodes_it_is_told(cluster: Cluster) -> None:
    """`Cluster.route` (bench_cluster.py's one node against two): with only node 2 in the upstream and
    node 2 killed, the proxy has nowhere to send a request (502), though node 1 is up; with both in
    it again, node 1 answers."""
    cluster.route([1])
    assert httpx.get(f"{cluster.url}/healthz", timeout=10).status_code == 200
    cluster.kill_web(1)
    assert httpx.get(cluster.node_url(0) + "/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{cluster.url}/healthz", timeout=10).status_code == 502
    cluster.route([0, 1])
    assert all(httpx.get(f"{cluster.url}/healthz", timeout=10).status_code == 200 for _ in range(4))
