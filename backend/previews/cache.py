"""The derived-image cache: previews, scrub strips and frame facts in the object store's ``derived`` area.

Writes are atomic (storage/base.py: a reader sees a whole object or none), so a worker killed
mid-write (timeout, OOM kill, crash) leaves nothing under the final key. Derived objects are written
without fsync on the local store (fsync cost ~9 ms per preview on this disk, more than the render);
after a power loss an object renamed before its data reached the disk is caught on read by
`_ends_right` (the end marker of each image) and rendered again. Every key contains the renderer
version (see spec.py): a new renderer starts an empty tree, which the sweep (storage/sweep.py) removes
by version and age.

Used from the web process and from the render worker processes alike: a worker reopens the same store
from its locator (``DerivedCache.root``).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from backend.rendering import RenderError
from backend.storage.base import ObjectStore
from backend.storage.errors import ObjectMissing, StorageUnavailable
from backend.storage.local import LocalObjectStore
from backend.storage.service import DERIVED, ORIGINALS, open_store

ERROR_SUFFIX = ".err"
STORE_DOWN = "storage_unavailable"
F = TypeVar("F", bound=Callable[..., Any])


class StoreDown(RenderError):
    """The object store failed while a render job ran: not a property of the file, never remembered as
    one (``write_error``); the web process answers 503 with Retry-After (previews/service.problem)."""

    reason = STORE_DOWN


def store_down_as_render_error(fn: F) -> F:
    """For jobs run in the render pool, which passes RenderErrors (with their reason) back to the web
    process but turns any other exception into a generic failure."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StorageUnavailable as exc:
            raise StoreDown(message_en=exc.detail, message_zh=exc.zh or "影像存储暂时不可用") from None

    return wrapper  # type: ignore[return-value]


def _ends_right(suffix: str, *, head: bytes, tail: bytes, size: int) -> bool:
    """A JPEG ends with EOI FF D9 (ITU T.81 B.2.1), a WebP RIFF header states the file's size (RIFF:
    size field + 8 bytes), JSON ends with '}' or ']'. `head`: the first 8 bytes, `tail`: the last 2."""
    if size == 0:
        return False
    if suffix == ".jpg":
        return tail[-2:] == b"\xff\xd9"
    if suffix == ".webp":
        return head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") + 8 == size
    if suffix in (".json", ERROR_SUFFIX):
        return tail[-1:] in (b"}", b"]")
    return True


def _suffix(relpath: str) -> str:
    name = relpath.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


class DerivedCache:
    def __init__(self, root: ObjectStore | str | Path) -> None:
        if isinstance(root, Path):
            root = str(root).replace("s3:/", "s3://", 1) if str(root).startswith("s3:/") else str(root)
        self.store: ObjectStore = open_store(root) if isinstance(root, str) else root

    @property
    def root(self) -> str:
        """The locator a render worker reopens this cache with."""
        return self.store.locator

    @property
    def local(self) -> bool:
        """A read is a file read (cheap enough for the event loop), not a network request."""
        return isinstance(self.store, LocalObjectStore)

    @staticmethod
    def key(relpath: str) -> str:
        if relpath.startswith("/") or ".." in relpath.split("/"):
            raise ValueError("relative cache paths only")
        return relpath

    def get(self, relpath: str) -> bytes | None:
        """The cached object's bytes, if present and complete (see `_ends_right`)."""
        try:
            data = self.store.get_bytes(key=self.key(relpath))
        except ObjectMissing:
            return None
        if data is not None and _ends_right(_suffix(relpath), head=data[:8], tail=data[-2:], size=len(data)):
            return data
        self.store.delete(key=relpath)  # short after a power loss: render again
        return None

    def read(self, relpath: str, *, max_bytes: int) -> bytes | None:
        """The cached bytes when present, complete and at most `max_bytes` (one open, one read: the hot
        path of a cache hit). None otherwise; a short object is removed as in `get`."""
        try:
            data = self.store.get_bytes(key=self.key(relpath), max_bytes=max_bytes)
        except ObjectMissing:
            return None
        if data is None:
            return None
        if _ends_right(_suffix(relpath), head=data[:8], tail=data[-2:], size=len(data)):
            return data
        self.store.delete(key=relpath)
        return None

    def exists(self, relpath: str) -> bool:
        return self.store.exists(key=self.key(relpath))

    def write(self, relpath: str, data: bytes, *, durable: bool = False) -> None:
        """Atomic publish (see the module docstring for why not durable by default)."""
        self.store.put_bytes(key=self.key(relpath), data=data, durable=durable)

    def write_error(self, relpath: str, detail: dict[str, Any]) -> None:
        """Remember a failure that is a property of the file (bad data, limits, timeout) so the
        same request does not burn a worker again; errors are versioned like the images."""
        if detail.get("reason") == STORE_DOWN:
            return  # the store, not the file: try again next time
        body = {**detail, "at": time.time()}
        self.write(relpath + ERROR_SUFFIX, json.dumps(body, ensure_ascii=False).encode())

    def get_error(self, relpath: str, *, max_age_s: float = 3600.0) -> dict[str, Any] | None:
        """A remembered failure, for an hour: limits and load change, so failures are retried later."""
        data = self.get(relpath + ERROR_SUFFIX)
        if data is None:
            return None
        try:
            value = json.loads(data)
        except ValueError:
            return None
        if not isinstance(value, dict) or float(value.pop("at", 0)) < time.time() - max_age_s:
            return None
        return value

    def sweep_temp(self, *, older_than_s: float = 3600.0) -> int:
        """Delete leftovers of interrupted local writes (an S3 store has none: a PUT is whole or absent)."""
        if isinstance(self.store, LocalObjectStore):
            return self.store.sweep_temp(older_than=older_than_s)
        return 0


def derived_beside(originals: ObjectStore) -> ObjectStore:
    """The ``derived`` area of the store whose ``blobs`` area is ``originals`` (storage/service.py);
    a store used on its own (a test's directory) keeps its derived objects in a ``derived`` sub-area."""
    locator = originals.locator
    if locator.rstrip("/").endswith("/" + ORIGINALS):
        return open_store(locator.rstrip("/")[: -len(ORIGINALS)] + DERIVED)
    return originals.sub(DERIVED)
