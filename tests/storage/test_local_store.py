"""The local blob store: durable puts, keys that cannot escape, and left-over temp files swept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from backend.storage.service import LocalBlobStore


def test_put_bytes_and_read_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put_bytes(key="ab/cd/blob", data=b"DICM")
    assert store.exists(key="ab/cd/blob")
    with store.open(key="ab/cd/blob") as fh:
        assert fh.read() == b"DICM"
    assert list(store.tmp.iterdir()) == []


def test_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError, match="escapes"):
        store.put_bytes(key="../outside", data=b"x")
    assert not (tmp_path / "outside").exists()


def test_stale_temp_files_are_swept_fresh_ones_kept(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    stale, fresh = store.tmp / "blob-stale", store.tmp / "blob-fresh"
    stale.write_bytes(b"half an upload from a killed worker")
    fresh.write_bytes(b"an upload still streaming")
    old = time.time() - 7 * 3600
    os.utime(stale, (old, old))
    LocalBlobStore(tmp_path)  # a restart
    assert not stale.exists()
    assert fresh.exists()
