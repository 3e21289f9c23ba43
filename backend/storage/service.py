"""Blob store for original DICOM bytes and derived files.

The local store writes every blob as temp file → fsync → rename → fsync(directory), so a crash leaves
either the whole blob or none of it (POSIX rename is atomic within a file system). Keys are relative
paths chosen by the caller (content-addressed keys for originals). An S3-compatible store implements
the same :class:`BlobStore` protocol.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from backend.storage.private import make_dirs, private_dir

CHUNK = 1024 * 1024
STALE_TEMP_SECONDS = 6 * 3600.0


class BlobStore(Protocol):
    def put_file(self, *, key: str, source: Path) -> None: ...
    def put_bytes(self, *, key: str, data: bytes) -> None: ...
    def exists(self, *, key: str) -> bool: ...
    def open(self, *, key: str) -> BinaryIO: ...
    def path(self, *, key: str) -> Path: ...
    def size(self, *, key: str) -> int: ...
    def delete(self, *, key: str) -> None: ...
    def check(self) -> None: ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        private_dir(self.root)  # owner-only, as every directory the service writes (storage/private.py)
        self.tmp = self.root / ".tmp"
        private_dir(self.tmp)
        self.sweep_temp()

    def sweep_temp(self, *, older_than: float = STALE_TEMP_SECONDS) -> int:
        """Remove temp files a killed process left behind. Only old ones: another worker may be
        streaming an upload into a fresh one right now (its mtime moves while it writes)."""
        cutoff = time.time() - older_than
        removed = 0
        for entry in self.tmp.iterdir():
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except OSError:
                continue  # raced with its owner; harmless
        return removed

    def path(self, *, key: str) -> Path:
        target = (self.root / key).resolve()
        if self.root not in target.parents:
            raise ValueError("blob key escapes the store")
        return target

    def _commit(self, tmp_path: Path, key: str) -> None:
        target = self.path(key=key)
        make_dirs(target.parent)
        os.replace(tmp_path, target)  # mkstemp made the file 0600
        _fsync_dir(target.parent)

    def temp_file(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="blob-")
        return fd, Path(name)

    def put_file(self, *, key: str, source: Path) -> None:
        """Move (same file system) or copy ``source`` into the store durably."""
        if source.parent.resolve() == self.tmp:
            with open(source, "rb+") as fh:
                os.fsync(fh.fileno())
            self._commit(source, key)
            return
        fd, tmp_path = self.temp_file()
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            self._commit(tmp_path, key)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def put_bytes(self, *, key: str, data: bytes) -> None:
        fd, tmp_path = self.temp_file()
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._commit(tmp_path, key)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def exists(self, *, key: str) -> bool:
        return self.path(key=key).is_file()

    def open(self, *, key: str) -> BinaryIO:
        return open(self.path(key=key), "rb")

    def size(self, *, key: str) -> int:
        return self.path(key=key).stat().st_size

    def delete(self, *, key: str) -> None:
        self.path(key=key).unlink(missing_ok=True)

    def check(self) -> None:
        """Raises OSError if the store cannot durably write and read back."""
        key = ".health/probe"
        self.put_bytes(key=key, data=b"ok")
        with self.open(key=key) as fh:
            if fh.read() != b"ok":
                raise OSError("blob store read back different bytes")


def iter_file(path: Path, *, chunk: int = CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            yield data
