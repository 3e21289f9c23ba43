"""A cold preview on S3 is answered before its PUT to the store is done (previews/cache.py
``write_behind``): the viewer does not wait for the store's round trip; the object lands right after,
whole, and the next request is a cache hit. A PUT that fails is forgotten: the next miss renders again."""

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
from backend.storage.errors import StorageUnavailable
from backend.storage.service import open_store
from backend.studies.models import Instance
from tests.sharing.world import build


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_url: str) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", storage_url=s3_url)


def _preview_url(client: TestClient, engine: Any, settings: Settings) -> tuple[str, dict[str, str]]:
    world = build(client, engine, settings)
    with session_scope(engine, readonly=True) as s:
        inst = s.exec(select(Instance).where(col(Instance.study_id) == world.studies["a"])).first()
        assert inst is not None
    return f"/api/v1/people/{world.person_id}/previews/{inst.id}/0/default/256.jpg", world.owner_headers()


def _previews(s3_url: str) -> list[str]:
    return [i.key for i in open_store(s3_url).sub("derived").list() if i.key.endswith("256.jpg") or "-256-" in i.key]


def test_a_cold_preview_is_answered_before_its_put(client: TestClient, engine: Any, settings: Settings, s3_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, owner = _preview_url(client, engine, settings)
    settle()
    before = set(_previews(s3_url))
    answered, puts = threading.Event(), []
    real_put = signed.put

    def slow_put(bucket: Any, *, key: str, full: str, body: bytes, headers: dict[str, str]) -> None:
        if key.endswith(".jpg"):  # the preview's PUT waits (up to 10 s) until its request was answered
            puts.append(answered.wait(10))
        real_put(bucket, key=key, full=full, body=body, headers=headers)

    monkeypatch.setattr(signed, "put", slow_put)
    first = client.get(url, headers=owner)
    answered.set()
    assert first.status_code == 200 and first.content[:2] == b"\xff\xd8"
    settle()
    assert puts == [True], "the preview's PUT was sent before the request was answered"
    stored = set(_previews(s3_url)) - before
    assert len(stored) == 1
    assert open_store(s3_url).sub("derived").get_bytes(key=stored.pop()) == first.content  # whole, the same bytes
    again = client.get(url, headers=owner)
    assert again.content == first.content and puts == [True]  # a hit: nothing rendered or written again


def test_a_failed_put_behind_is_forgotten_and_rendered_again(client: TestClient, engine: Any, settings: Settings,
                                                             s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, owner = _preview_url(client, engine, settings)
    settle()
    before = set(_previews(s3_url))
    real_put = signed.put

    def failing_put(bucket: Any, *, key: str, full: str, body: bytes, headers: dict[str, str]) -> None:
        if key.endswith(".jpg"):
            raise StorageUnavailable("the image store is unreachable (test)")
        real_put(bucket, key=key, full=full, body=body, headers=headers)

    monkeypatch.setattr(signed, "put", failing_put)
    first = client.get(url, headers=owner)
    settle()
    assert first.status_code == 200 and set(_previews(s3_url)) == before  # answered; nothing stored
    monkeypatch.setattr(signed, "put", real_put)
    again = client.get(url, headers=owner)
    settle()
    assert again.status_code == 200 and again.content == first.content
    assert len(set(_previews(s3_url)) - before) == 1
