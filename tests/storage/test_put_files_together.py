"""The local store's large batches (storage/local.py ``_put_files_together``): two syncfs(2) calls instead of
two fsyncs per file, in the same order as one file's temp → durable → rename → durable."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from backend.storage import local
from backend.storage.base import Spooled
from backend.storage.errors import StorageUnavailable
from backend.storage.local import SYNCFS_FILES, LocalObjectStore


def _spooled(tmp_path: Path, count: int) -> list[Spooled]:
    files = []
    for n in range(count):
        data = os.urandom(2_000 + n)
        sha = hashlib.sha256(data).hexdigest()
        path = tmp_path / f"part-{n}.dcm"
        path.write_bytes(data)
        files.append(Spooled(key=f"dicom/{sha[:2]}/{sha[2:4]}/{sha}", path=path, sha256=sha, size=len(data)))
    return files


class _Calls:
    """Spies on syncfs and fsync; at each syncfs notes which objects were visible under their keys."""

    def __init__(self, store: LocalObjectStore, files: list[Spooled], monkeypatch: pytest.MonkeyPatch,
                 fail_at: int | None = None) -> None:
        self.visible_at_syncfs: list[int] = []
        self.fsyncs = 0
        real_syncfs, real_fsync = local._syncfs, os.fsync

        def syncfs(fd: int) -> None:
            self.visible_at_syncfs.append(sum(store.exists(key=item.key) for item in files))
            if len(self.visible_at_syncfs) == fail_at:
                raise OSError(errno.EIO, "I/O error")
            real_syncfs(fd)

        def fsync(fd: int) -> None:
            self.fsyncs += 1
            real_fsync(fd)

        monkeypatch.setattr(local, "_syncfs", syncfs)
        monkeypatch.setattr(local.os, "fsync", fsync)


def test_a_large_batch_is_made_durable_by_two_syncfs_around_the_renames(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "store")
    files = _spooled(tmp_path, SYNCFS_FILES + 2)
    files[3].path.write_bytes(b"changed after the hash was taken")  # refused alone
    calls = _Calls(store, files, monkeypatch)
    outcome = store.put_files(files=files)
    assert outcome == [n != 3 for n in range(len(files))]
    # the first syncfs before any rename (nothing visible yet), the second after all of them
    assert calls.visible_at_syncfs == [0, len(files) - 1]
    assert calls.fsyncs == 0
    for item in files[:3] + files[4:]:
        assert store.get_bytes(key=item.key) == item.path.read_bytes()
    assert not store.exists(key=files[3].key)
    assert all(item.path.exists() for item in files)  # the spool files stay the caller's
    assert not any((store.root / ".tmp").iterdir())


def test_a_small_batch_keeps_the_fsync_of_each_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "store")
    files = _spooled(tmp_path, SYNCFS_FILES - 1)
    calls = _Calls(store, files, monkeypatch)
    assert store.put_files(files=files) == [True] * len(files)
    assert calls.visible_at_syncfs == []
    assert calls.fsyncs >= len(files)  # each file, then each directory


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_failed_syncfs_fails_the_batch_and_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 fail_at: int) -> None:
    """A disk error in the first syncfs: nothing was renamed, nothing is visible. In the second: the objects
    were renamed but the batch still fails (its rows are never written; the next upload of the same bytes
    finds them, as after a crash)."""
    store = LocalObjectStore(tmp_path / "store")
    files = _spooled(tmp_path, SYNCFS_FILES)
    _Calls(store, files, monkeypatch, fail_at=fail_at)
    with pytest.raises(StorageUnavailable):
        store.put_files(files=files)
    assert sum(store.exists(key=item.key) for item in files) == (0 if fail_at == 1 else len(files))
    assert not any((store.root / ".tmp").iterdir())


def test_a_spool_on_another_file_system_takes_the_per_file_copy(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "store")
    files = _spooled(tmp_path, SYNCFS_FILES)
    linked = 0
    real_link = os.link

    def link_some(src: object, dst: object) -> None:  # the third file is on another device
        nonlocal linked
        linked += 1
        if linked == 3:
            raise OSError(errno.EXDEV, "cross-device link")
        real_link(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(local.os, "link", link_some)
    calls = _Calls(store, files, monkeypatch)
    assert store.put_files(files=files) == [True] * len(files)
    assert calls.visible_at_syncfs == []  # the whole batch went the per-file way
    for item in files:
        assert store.get_bytes(key=item.key) == item.path.read_bytes()
    assert not any((store.root / ".tmp").iterdir())


def test_syncfs_reports_an_error_as_an_oserror(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        local._syncfs(fd)  # a real call on this file system succeeds
    finally:
        os.close(fd)
    with pytest.raises(OSError) as raised:
        local._syncfs(fd)  # closed: EBADF
    assert raised.value.errno == errno.EBADF
