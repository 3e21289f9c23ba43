"""Fetching an original before it is read (storage/s3.py ``prefetch``, previews/streaks.py).

A viewer scrolling a series in a window nobody rendered asks for one missing preview after another; on
S3 each one cost a lookup GET (404) and then the original's GET, one after the other. After a miss, the
next image's original is fetched on a thread while the lookup runs: one GET either way, never two, the
same bytes, and a failed or missing fetch is met again by the read that needs it (503 / 404 as before)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from backend.config import Settings, load_settings
from backend.db import session_scope
from backend.previews.cache import settle
from backend.storage import signed
from backend.storage.errors import ObjectMissing, StorageUnavailable
from backend.storage.local import LocalObjectStore
from backend.storage.s3 import S3ObjectStore
from backend.storage.service import open_store
from backend.studies.models import Instance
from tests.sharing.world import build

BODY = bytes(range(256)) * 2048  # 512 kB: a CT slice's size, under the memo's WHOLE


@pytest.fixture
def originals(s3_url: str) -> S3ObjectStore:
    store = open_store(f"{s3_url}/blobs")  # the originals' area: small objects are remembered whole
    assert isinstance(store, S3ObjectStore)
    return store.remember_objects()  # a fresh memo: nothing of another test's reads


@pytest.fixture
def gets(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every GET sent: (key, the sending thread's name)."""
    seen: list[tuple[str, str]] = []
    real = signed.get

    def counting(bucket: Any, *, key: str, **kwargs: Any) -> Any:
        seen.append((key, threading.current_thread().name))
        return real(bucket, key=key, **kwargs)

    monkeypatch.setattr(signed, "get", counting)
    return seen


def test_a_prefetched_original_is_read_with_the_prefetchs_one_get(originals: S3ObjectStore,
                                                                 gets: list[tuple[str, str]]) -> None:
    originals.put_bytes(key="dicom/aa/bb/one", data=BODY)
    originals.remember_objects()
    originals.prefetch(key="dicom/aa/bb/one")
    assert originals.read_range(key="dicom/aa/bb/one", offset=1000, length=300) == BODY[1000:1300]
    assert originals.open(key="dicom/aa/bb/one").read() == BODY
    assert len(gets) == 1 and gets[0][1].startswith("yy-s3-prefetch")


def test_a_read_during_a_prefetch_waits_for_it_instead_of_a_second_get(originals: S3ObjectStore,
                                                                      gets: list[tuple[str, str]],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    originals.put_bytes(key="dicom/aa/bb/two", data=BODY)
    originals.remember_objects()
    started, release = threading.Event(), threading.Event()
    counting = signed.get

    def slow(bucket: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(10)
        return counting(bucket, **kwargs)

    monkeypatch.setattr(signed, "get", slow)
    originals.prefetch(key="dicom/aa/bb/two")
    assert started.wait(10)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(originals.read_range(key="dicom/aa/bb/two", offset=0,
                                                                                length=len(BODY))))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive(), "the read did not wait for the prefetch under way"
    release.set()
    reader.join(10)
    assert read == [BODY] and len(gets) == 1


def test_a_failed_prefetch_leaves_the_read_to_ask_the_store(originals: S3ObjectStore, gets: list[tuple[str, str]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    originals.put_bytes(key="dicom/aa/bb/three", data=BODY)
    originals.remember_objects()
    counting, failures = signed.get, [1]

    def failing_once(bucket: Any, **kwargs: Any) -> Any:
        if failures:
            failures.pop()
            raise StorageUnavailable("the image store is unreachable (test)")
        return counting(bucket, **kwargs)

    monkeypatch.setattr(signed, "get", failing_once)
    originals.prefetch(key="dicom/aa/bb/three")  # never raises
    assert originals.read_range(key="dicom/aa/bb/three", offset=5, length=10) == BODY[5:15]
    assert not failures and len(gets) == 1  # the read's own GET


def test_a_prefetch_of_a_missing_original_leaves_the_read_its_404(originals: S3ObjectStore) -> None:
    originals.prefetch(key="dicom/aa/bb/none")
    with pytest.raises(ObjectMissing):
        originals.read_range(key="dicom/aa/bb/none", offset=0, length=10)


def test_a_local_directory_prefetches_nothing(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    store.put_bytes(key="dicom/aa/bb/four", data=BODY)
    store.prefetch(key="dicom/aa/bb/four")
    store.prefetch(key="dicom/aa/bb/missing")  # no error: the read reports what is wrong
    assert store.read_range(key="dicom/aa/bb/four", offset=0, length=4) == BODY[:4]


# -- the previews that use it ----------------------------------------------------------------------------
def _settings(tmp_path: Path, database_url: str, s3_url: str, **extra: Any) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", storage_url=s3_url, **extra)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_url: str) -> Settings:
    return _settings(tmp_path, database_url, s3_url)  # with the node's copy of derived objects (the default)


def _scroll(client: TestClient, engine: Any, settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The study's slices in a window nobody rendered, with the originals' memo emptied."""
    world = build(client, engine, settings)
    with session_scope(engine, readonly=True) as s:
        ids = [i.id for i in s.exec(select(Instance).where(col(Instance.study_id) == world.studies["a"])
                                    .order_by(col(Instance.instance_number))).all()]
    assert len(ids) >= 3
    settle()
    blobs = settings.storage.originals
    assert isinstance(blobs, S3ObjectStore)
    blobs.remember_objects()  # forget what pre-rendering read: each original is fetched again
    return [f"/api/v1/people/{world.person_id}/previews/{i}/0/c40w400/256.jpg" for i in ids], world.owner_headers()


def _split(gets: list[tuple[str, str]]) -> tuple[list[str], list[tuple[str, str]]]:
    """(the previews looked up in the store, the originals fetched with their threads)."""
    return ([key for key, _ in gets if key.endswith(".jpg")],
            [(key, thread) for key, thread in gets if key.startswith("dicom/")])


def test_a_scroll_in_a_new_window_asks_the_store_for_its_first_preview_only(
        client: TestClient, engine: Any, settings: Settings, s3_url: str, gets: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    urls, owner = _scroll(client, engine, settings)
    gets.clear()
    first = [client.get(u, headers=owner) for u in urls]
    settle()
    assert all(r.status_code == 200 and r.content[:2] == b"\xff\xd8" for r in first)
    looked_up, originals = _split(gets)
    assert len(looked_up) == 1  # the first miss; then this node's copy only (it has none of them)
    assert len(originals) == len(urls)  # each rendered from its original, one GET each
    derived = open_store(s3_url).sub("derived")
    bodies = {derived.get_bytes(key=i.key) for i in derived.list() if i.key.endswith(".jpg")}
    assert all(r.content in bodies for r in first)  # each written to the store whole, as served
    gets.clear()
    puts: list[str] = []
    real_put = signed.put

    def counting_put(bucket: Any, *, key: str, **kwargs: Any) -> None:
        puts.append(key)
        real_put(bucket, key=key, **kwargs)

    monkeypatch.setattr(signed, "put", counting_put)
    back = [client.get(u, headers=owner) for u in reversed(urls)]  # scrolling back: this node's copies
    settle()
    assert [r.content for r in back] == [r.content for r in reversed(first)]
    assert not gets and not puts  # nothing asked of the store, nothing rendered again


def test_without_a_node_copy_each_next_original_is_fetched_beside_its_lookup(
        client: TestClient, engine: Any, tmp_path: Path, database_url: str, s3_url: str,
        gets: list[tuple[str, str]]) -> None:
    settings = _settings(tmp_path / "bare", database_url, s3_url, derived_cache_mb=0)
    from backend.main import create_app

    with TestClient(create_app(settings, engine=engine), base_url="http://testserver") as bare:
        urls, owner = _scroll(bare, engine, settings)
        gets.clear()
        first = [bare.get(u, headers=owner) for u in urls]
        settle()
        assert all(r.status_code == 200 and r.content[:2] == b"\xff\xd8" for r in first)
        looked_up, originals = _split(gets)
        assert len(looked_up) == len(urls)  # every preview is looked up in the store
        assert len(originals) == len(urls)  # one GET per original, never two
        assert not originals[0][1].startswith("yy-s3-prefetch")  # the first miss: nothing to go by yet
        assert all(thread.startswith("yy-s3-prefetch") for _, thread in originals[1:])  # then beside each lookup
        gets.clear()
        again = [bare.get(u, headers=owner) for u in urls]
        assert [r.content for r in again] == [r.content for r in first]  # cache hits, the same bytes
        assert not [key for key, _ in gets if key.startswith("dicom/")]  # nothing rendered again
