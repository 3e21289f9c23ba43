"""A preview's key answers "image, remembered failure or nothing" in one store read (on S3 each read is a
request): the failure lives at the image's own key, and the answer of a lookup serves the questions
asked of the same key right after it (previews/cache.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from backend.previews import cache as C
from backend.previews.cache import DerivedCache
from backend.storage.local import LocalObjectStore

KEY = "r1/p/ab/abcd/0-c40w400-512-q85.jpg"
JPEG = b"\xff\xd8" + b"\0" * 100 + b"\xff\xd9"


class CountingStore(LocalObjectStore):
    """The local store, counting the reads a cache makes of it."""

    calls: Counter[str]

    def get_bytes(self, *, key: str, max_bytes: int | None = None) -> bytes | None:
        self.calls["get"] += 1
        return super().get_bytes(key=key, max_bytes=max_bytes)

    def exists(self, *, key: str) -> bool:
        self.calls["exists"] += 1
        return super().exists(key=key)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    s = CountingStore(tmp_path / "derived")
    s.calls = Counter()
    return s


def test_a_miss_answers_the_failure_and_existence_questions_too(store: CountingStore) -> None:
    cache = DerivedCache(store)
    assert cache.get(KEY) is None
    assert cache.get_error(KEY) is None
    assert cache.exists(KEY) is False
    assert sum(store.calls.values()) == 1


def test_a_remembered_failure_is_one_read_and_a_render_replaces_it(store: CountingStore) -> None:
    cache = DerivedCache(store)
    cache.write_error(KEY, {"reason": "decode_failed", "en": "bad pixels", "zh": "像素数据无法解码"})
    assert cache.read(KEY, max_bytes=1 << 20) is None
    assert cache.exists(KEY) is True  # the hot path then lets the route answer
    assert cache.get_error(KEY) == {"reason": "decode_failed", "en": "bad pixels", "zh": "像素数据无法解码"}
    assert sum(store.calls.values()) == 1
    cache.write(KEY, JPEG)
    assert cache.get_error(KEY) is None  # the write forgot what the lookup had found
    assert cache.get(KEY) == JPEG


def test_the_answer_of_a_lookup_ages_quickly(store: CountingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = DerivedCache(store)
    assert cache.get(KEY) is None
    DerivedCache(store).write_error(KEY, {"reason": "limit_exceeded", "en": "too big", "zh": "过大"})  # another node
    monkeypatch.setattr(C, "RECENT_S", -1.0)
    assert cache.get_error(KEY) == {"reason": "limit_exceeded", "en": "too big", "zh": "过大"}
    assert store.calls["get"] == 2


def test_an_old_failure_is_forgotten(store: CountingStore) -> None:
    cache = DerivedCache(store)
    cache.write_error(KEY, {"reason": "render_timeout", "en": "slow", "zh": "超时"})
    assert cache.get_error(KEY, max_age_s=-1) is None
