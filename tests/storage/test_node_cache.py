"""The node-local copy of derived objects (storage/nodecache.py, issue 18: the object store stopped for
30 s). A preview this node already served keeps being served while the store is down — after the access
decision, which still refuses a stranger — and one never rendered answers 503 + Retry-After. The copy is
bounded, holds whole images only, and a failed store write leaves no copy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from backend.config import Settings, load_settings
from backend.db import session_scope
from backend.previews.cache import ERROR_MARK, DerivedCache, _whole_image, settle
from backend.storage.errors import ObjectMissing
from backend.storage.local import LocalObjectStore
from backend.storage.nodecache import NodeCache, NodeCachedStore
from backend.storage.service import open_store
from backend.studies.models import Instance
from tests.family import helpers as h
from tests.sharing.world import build
from tests.storage.conftest import S3Server

JPEG = b"\xff\xd8" + b"x" * 1000 + b"\xff\xd9"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_url: str) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", storage_url=s3_url)


def test_a_viewed_preview_is_served_while_the_store_is_down(client: TestClient, engine: Any, settings: Settings,
                                                            s3_server: S3Server, s3_url: str) -> None:
    if s3_server.seaweed is None:
        pytest.skip("an external S3 server: the test does not stop it")
    world = build(client, engine, settings)
    with session_scope(engine, readonly=True) as s:
        instances = s.exec(select(Instance).where(col(Instance.study_id) == world.studies["a"])).all()
    assert len(instances) >= 2
    base = f"/api/v1/people/{world.person_id}/previews"
    viewed, never = f"{base}/{instances[0].id}/0/default/256.jpg", f"{base}/{instances[1].id}/0/default/256.jpg"
    owner = world.owner_headers()
    first = client.get(viewed, headers=owner)
    assert first.status_code == 200 and first.content[:2] == b"\xff\xd8"
    settle()
    # The render may have run in a render process, whose write behind the answer `settle` does not wait
    # for: wait until the store holds the image, then view it again (a read: the node copies it).
    derived = open_store(s3_url).sub("derived")
    deadline = time.monotonic() + 20
    while not any(i.key.endswith("-256-q85.jpg") for i in derived.list()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get(viewed, headers=owner).content == first.content
    stranger = h.cookie_headers(engine, settings, h.account(engine, "o-stranger"))

    s3_server.seaweed.kill()  # kill -9, as a crash does
    try:
        again = client.get(viewed, headers=owner)
        assert again.status_code == 200 and again.content == first.content
        assert client.get(viewed, headers=stranger).status_code == 404  # the policy still decides first
        cold = client.get(never, headers=owner)
        assert cold.status_code == 503 and int(cold.headers["Retry-After"]) > 0
        assert cold.headers["content-type"].startswith("application/problem+json")
    finally:
        s3_server.seaweed.start()
    assert client.get(never, headers=owner).status_code == 200


def _local(tmp_path: Path, *, budget: int) -> tuple[LocalObjectStore, NodeCachedStore]:
    inner = LocalObjectStore(tmp_path / "store")
    cache = NodeCache(tmp_path / "copy", budget=budget)
    return inner, NodeCachedStore(inner, cache, keep=lambda key, data: not data.startswith(ERROR_MARK))


def _copies(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "copy").rglob("*") if p.is_file()]


def test_the_copy_stays_within_its_budget(tmp_path: Path) -> None:
    _inner, store = _local(tmp_path, budget=64 * 1024)
    for n in range(200):
        store.put_bytes(key=f"v2/p{n}.jpg", data=JPEG, durable=False)
    assert sum(p.stat().st_size for p in _copies(tmp_path)) <= 64 * 1024
    assert store.get_bytes(key="v2/p0.jpg") == JPEG  # evicted here long ago: read through from the store
    assert not [p for p in _copies(tmp_path) if p.name.startswith(".tmp-")]  # every write was whole


def test_a_failure_mark_or_a_failed_write_leaves_no_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inner, store = _local(tmp_path, budget=1024 * 1024)
    store.put_bytes(key="v2/a.jpg", data=ERROR_MARK + b"{}", durable=False)
    assert _copies(tmp_path) == []

    def refuse(**_: Any) -> None:
        raise OSError("the store refused it")

    monkeypatch.setattr(inner, "put_bytes", refuse)
    with pytest.raises(OSError):
        store.put_bytes(key="v2/b.jpg", data=JPEG, durable=False)
    assert _copies(tmp_path) == []
    with pytest.raises(ObjectMissing):
        store.get_bytes(key="v2/b.jpg")


def test_a_copy_cut_short_is_not_kept(tmp_path: Path) -> None:
    """DerivedCache's rule: only whole images (here: a JPEG without its end marker) are copied."""
    store = LocalObjectStore(tmp_path / "store")
    store.put_bytes(key="p.jpg", data=JPEG[:-2], durable=False)
    cache = DerivedCache(NodeCachedStore(store, NodeCache(tmp_path / "copy", budget=1 << 20),
                                         keep=_whole_image))
    assert cache.get("p.jpg") is None  # short: removed from the store, never copied
    assert _copies(tmp_path) == []


def test_read_nearby_answers_from_the_node_copy_only(tmp_path: Path) -> None:
    """The preview hot path asks this on the event loop (previews/fastpath.py): a file read of this
    node's copy, never a request to the store; whatever it cannot answer goes to `read` on a thread."""
    inner, store = _local(tmp_path, budget=1 << 20)
    cache = DerivedCache(store)
    key = "derived-v1/ab/image-256-q85.jpg"
    inner.put_bytes(key=key, data=JPEG, durable=False)  # in the store, not yet on this node
    assert cache.read_nearby(key, max_bytes=1 << 20) is None
    assert not _copies(tmp_path)
    assert cache.read(key, max_bytes=1 << 20) == JPEG  # the read copies it here
    assert cache.read_nearby(key, max_bytes=1 << 20) == JPEG
    assert cache.read_nearby(key, max_bytes=100) is None  # larger than asked: the route's business
    (copy,) = _copies(tmp_path)
    copy.write_bytes(JPEG[:-2])  # cut short by a power loss
    assert cache.read_nearby(key, max_bytes=1 << 20) is None
