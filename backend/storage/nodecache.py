"""A node-local, bounded, read-through copy of derived objects on the web node's own disk (issue 18).

With the object store on the network (S3), every preview served is a GET to it, and while the store is
down (stopped, failing over) nothing can be served. Derived objects are keyed like the store's — the
renderer version and the content they were made from are in the key (previews/spec.py) — so the bytes
of one key never change and a copy can never be stale: a copy of what this node read or wrote answers
the next read without a round trip, and keeps answering while the store is down.

Only what the caller's ``keep`` accepts is copied (previews: whole images, never a remembered failure,
which a later render replaces at the same key). Originals are never copied here: the store stays their
only source of truth. The access policy and the audit run before any read reaches a store, so this
layer sits below them and changes nothing of who may see what.

- Where and how much: ``YUNYING_DERIVED_CACHE_DIR`` (default ``<data dir>/derived-cache`` when the store
  is S3; a local store is a disk already and gets none) and ``YUNYING_DERIVED_CACHE_MB`` (default 1024;
  0 turns it off). The web process publishes the resolved values in its environment (ENV_DIR, ENV_MB),
  so the render processes it spawns use the same directory (one directory per node, shared by them).
- Writes are atomic (a temp file in the same directory, then rename): a reader sees a whole copy or
  none. No fsync — a copy cut short by a power loss is caught by ``keep`` on read and removed.
- Bounded: each process adds what it writes to the size it last measured; past the budget it walks the
  directory and removes the least recently used copies (by mtime, refreshed on a hit at most once a
  minute) down to 80 %. The bound holds to within what other processes of the node wrote since their
  last walk.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from backend.storage.base import CHUNK, ObjectInfo, ObjectStore, Source, Spooled
from backend.storage.errors import ObjectMissing
from backend.storage.local import LocalObjectStore
from backend.storage.private import private_dir

# Where the web process publishes its resolved settings for the render processes it spawns — names of
# their own, so a later Settings load in the same process (tests) never reads them back as configuration.
ENV_DIR = "YY_NODE_COPY_DIR"
ENV_MB = "YY_NODE_COPY_MB"
DEFAULT_MB = 1024
TOUCH_EVERY_S = 60.0
LOW_WATER = 0.8
Keep = Callable[[str, bytes], bool]
log = logging.getLogger("yunying.storage")


class NodeCache:
    """One directory of copies, keyed by (store locator, key)."""

    def __init__(self, directory: Path, *, budget: int) -> None:
        self.directory, self.budget = directory, budget
        private_dir(directory)
        self._lock = threading.Lock()
        self._used = sum(size for _, size, _ in self._files())

    def _path(self, locator: str, key: str) -> Path:
        digest = hashlib.sha256(f"{locator}\0{key}".encode()).hexdigest()
        return self.directory / digest[:2] / digest[2:]

    def get(self, locator: str, key: str, *, max_bytes: int | None) -> bytes | None:
        """The copy's bytes (None when it is larger than ``max_bytes``); ObjectMissing when there is none."""
        path = self._path(locator, key)
        try:
            with open(path, "rb") as fh:
                data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
                stat = os.fstat(fh.fileno())
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        if time.time() - stat.st_mtime > TOUCH_EVERY_S:  # recently used: last to be evicted
            with contextlib.suppress(OSError):
                os.utime(path)
        return None if max_bytes is not None and len(data) > max_bytes else data

    def put(self, locator: str, key: str, data: bytes) -> None:
        if len(data) > self.budget // 16:
            return
        path = self._path(locator, key)
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:  # a full or failing local disk: the store still has the object
            log.warning("node cache write failed (%s)", type(exc).__name__)
            return
        with self._lock:
            self._used += len(data)
            over = self._used > self.budget
        if over:
            self.evict()

    def drop(self, locator: str, key: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._path(locator, key))

    def evict(self) -> None:
        """Remove the least recently used copies until the directory holds LOW_WATER of the budget."""
        with self._lock:
            files = sorted(self._files(), key=lambda f: f[2])
            used = sum(size for _, size, _ in files)
            for path, size, _ in files:
                if used <= self.budget * LOW_WATER:
                    break
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    used -= size
            self._used = used

    def _files(self) -> Iterator[tuple[str, int, float]]:
        for sub in os.scandir(self.directory):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(sub.path):
                with contextlib.suppress(OSError):  # removed meanwhile by another process
                    stat = entry.stat(follow_symlinks=False)
                    if entry.name.startswith(".tmp-") and time.time() - stat.st_mtime > 3600:
                        os.unlink(entry.path)  # left by a killed process
                        continue
                    yield entry.path, stat.st_size, stat.st_mtime


class NodeCachedStore:
    """An ObjectStore whose whole-object reads and writes also go through a NodeCache; everything else
    is the inner store's."""

    def __init__(self, inner: ObjectStore, cache: NodeCache, *, keep: Keep) -> None:
        self.inner, self.cache, self.keep = inner, cache, keep
        self.locator = inner.locator
        self.probe_before_put = inner.probe_before_put

    def get_bytes(self, *, key: str, max_bytes: int | None = None) -> bytes | None:
        try:
            return self.cache.get(self.locator, key, max_bytes=max_bytes)
        except ObjectMissing:
            pass
        data = self.inner.get_bytes(key=key, max_bytes=max_bytes)
        if data is not None and self.keep(key, data):
            self.cache.put(self.locator, key, data)
        return data

    def get_near(self, *, key: str, max_bytes: int | None = None) -> bytes | None:
        """This node's copy only, never a request to the store: ObjectMissing when the node holds none
        (the store may still have the object), None when the copy is larger than ``max_bytes``."""
        return self.cache.get(self.locator, key, max_bytes=max_bytes)

    def put_bytes(self, *, key: str, data: bytes, sha256: str | None = None, durable: bool = True) -> None:
        self.inner.put_bytes(key=key, data=data, sha256=sha256, durable=durable)
        if self.keep(key, data):  # only once the store holds it: the copy never has what the store lacks
            self.cache.put(self.locator, key, data)
        else:
            self.cache.drop(self.locator, key)

    def delete(self, *, key: str) -> None:
        self.cache.drop(self.locator, key)
        self.inner.delete(key=key)

    def put_stream(self, *, key: str, source: Source, sha256: str | None = None) -> int:
        self.cache.drop(self.locator, key)
        return self.inner.put_stream(key=key, source=source, sha256=sha256)

    def put_files(self, *, files: Sequence[Spooled]) -> list[bool]:
        for item in files:
            self.cache.drop(self.locator, item.key)
        return self.inner.put_files(files=files)

    def iter_bytes(self, *, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        return self.inner.iter_bytes(key=key, chunk=chunk)

    def read_range(self, *, key: str, offset: int, length: int) -> bytes:
        return self.inner.read_range(key=key, offset=offset, length=length)

    def open(self, *, key: str, size: int | None = None) -> BinaryIO:
        return self.inner.open(key=key, size=size)

    def size(self, *, key: str) -> int:
        return self.inner.size(key=key)

    def prefetch(self, *, key: str) -> None:
        self.inner.prefetch(key=key)

    def exists(self, *, key: str) -> bool:
        return self.inner.exists(key=key)

    def list(self, *, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix=prefix)

    def check(self) -> None:
        self.inner.check()

    def sub(self, prefix: str) -> ObjectStore:
        return self.inner.sub(prefix)


_caches: dict[tuple[str, int], NodeCache] = {}
_caches_lock = threading.Lock()


def configure(*, directory: Path | None, megabytes: int) -> None:
    """Publish the node's cache for this process and the processes it starts (their environment)."""
    if directory is None or megabytes <= 0:
        os.environ[ENV_MB] = "0"
        return
    os.environ[ENV_DIR] = str(Path(directory).resolve())
    os.environ[ENV_MB] = str(megabytes)


def node_cached(store: ObjectStore, *, keep: Keep) -> ObjectStore:
    """``store`` behind this node's cache when one is configured (module docstring), else ``store``."""
    directory, megabytes = os.environ.get(ENV_DIR), os.environ.get(ENV_MB, "0")
    if (not directory or not megabytes.isdigit() or int(megabytes) <= 0
            or isinstance(store, (NodeCachedStore, LocalObjectStore))):  # a local store is a disk already
        return store
    budget = int(megabytes) * 1024 * 1024
    with _caches_lock:
        cache = _caches.get((directory, budget))
        if cache is None:
            cache = _caches[(directory, budget)] = NodeCache(Path(directory), budget=budget)
    return NodeCachedStore(store, cache, keep=keep)
