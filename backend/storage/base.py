"""The object store interface: keys and bytes, never file paths.

Keys are ``/``-separated relative names (``dicom/ab/cd/<sha256>``). Every write is atomic — a reader
sees the whole object or none — and, when the caller states the SHA-256 it expects, verified before the
object becomes visible. Reads are whole objects, streams, byte ranges (the raw-pixel fast path reads one
frame with one ranged read) or a seekable reader built on ranges. Two implementations: ``local.py`` (a
directory: the embedded default) and ``s3.py`` (any S3 API: SeaweedFS, Ceph RGW, a cloud's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from backend.storage.errors import ChecksumMismatch

CHUNK = 1024 * 1024
Source = BinaryIO | Iterable[bytes]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str  # relative to the store listed
    size: int
    modified: float  # seconds since the epoch (UTC)


@dataclass(frozen=True, slots=True)
class Spooled:
    """A file the caller wrote and hashed itself, as it wrote it, for :meth:`ObjectStore.put_files`:
    ingest's spooled parts (dicom/multipart.py), each created O_EXCL and 0600 in a private directory
    that nothing else writes. ``sha256`` and ``size`` are of the bytes written."""

    key: str
    path: Path
    sha256: str
    size: int


class ObjectStore(Protocol):
    #: Reopens the same store in another process: ``service.open_store(locator)``.
    locator: str
    #: Whether a writer of content-addressed bytes should ask :meth:`exists` before writing them: a local
    #: directory yes (writing again is a copy and an fsync), S3 no (a PUT of the same bytes replaces the
    #: object with itself, atomically, and asking first costs a HEAD for every new object).
    probe_before_put: bool

    def put_bytes(self, *, key: str, data: bytes, sha256: str | None = None, durable: bool = True) -> None: ...
    def put_stream(self, *, key: str, source: Source, sha256: str | None = None) -> int: ...
    def put_files(self, *, files: Sequence[Spooled]) -> list[bool]: ...
    def get_bytes(self, *, key: str, max_bytes: int | None = None) -> bytes | None: ...
    def iter_bytes(self, *, key: str, chunk: int = CHUNK) -> Iterator[bytes]: ...
    def read_range(self, *, key: str, offset: int, length: int) -> bytes: ...
    def open(self, *, key: str, size: int | None = None) -> BinaryIO: ...
    #: A hint that ``key`` is about to be read: a network store may start fetching it now (s3.py); a
    #: local directory does nothing. Never raises: the read itself reports what went wrong.
    def prefetch(self, *, key: str) -> None: ...
    def size(self, *, key: str) -> int: ...
    def exists(self, *, key: str) -> bool: ...
    def delete(self, *, key: str) -> None: ...
    def list(self, *, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def check(self) -> None: ...
    def sub(self, prefix: str) -> ObjectStore: ...


def check_key(key: str) -> str:
    """A relative key without empty, ``.`` or ``..`` parts (it can never escape its store)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
        raise ValueError("bad object key")
    return key


def chunks_of(source: Source, *, chunk: int = CHUNK) -> Iterator[bytes]:
    if hasattr(source, "read"):
        reader: BinaryIO = source  # type: ignore[assignment]
        while data := reader.read(chunk):
            yield data
        return
    for data in source:
        if data:
            yield bytes(data)


def verify(digest: hashlib._Hash, expected: str | None) -> None:
    if expected is not None and digest.hexdigest() != expected.removeprefix("sha256:").lower():
        raise ChecksumMismatch("the bytes do not match the stated SHA-256; nothing was stored")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
