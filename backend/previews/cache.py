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

import contextlib
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from backend.rendering import RenderError
from backend.storage.base import ObjectStore
from backend.storage.errors import ObjectMissing, StorageUnavailable
from backend.storage.local import LocalObjectStore
from backend.storage.nodecache import NodeCachedStore, node_cached
from backend.storage.service import DERIVED, area_beside, open_store

ERROR_SUFFIX = ".err"  # where earlier versions kept a remembered failure (the sweep still removes them)
# A remembered failure now lives at the image's own key, marked so no image can be mistaken for one (a
# JPEG starts FF D8, a WebP "RIFF", JSON "{"): one lookup answers "image, failure or nothing".
ERROR_MARK = b"YYERR1\n"
# How long a lookup's answer also answers the next question about that key in this process: the route
# asks "image?" then "remembered failure?" and the hot path "image?", "too large?", "failure?" of one
# key within a millisecond or two — on S3 each was a request. A failure another node records meanwhile
# costs at most one more render attempt.
RECENT_S = 2.0
RECENT_MAX = 4096
STORE_DOWN = "storage_unavailable"
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("yunying.previews")

# Writes behind (DerivedCache.write_behind): threads of this process that PUT just-rendered previews to a
# network store after the render answered. Made on first use (a render worker forks first); Python joins
# them at exit, so a process that ends normally finishes its writes.
BEHIND_THREADS = 4
_behind: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()
_behind_lock = threading.Lock()


def _forget_behind_in_child() -> None:
    """A forked child (a render worker) has none of its parent's threads: it starts its own pool."""
    global _behind, _pending, _behind_lock
    _behind, _pending, _behind_lock = None, set(), threading.Lock()


os.register_at_fork(after_in_child=_forget_behind_in_child)


def _put_behind(store: ObjectStore, key: str, data: bytes) -> None:
    try:
        store.put_bytes(key=key, data=data, durable=False)
    except Exception as exc:  # noqa: BLE001 - derived data: the next miss renders it again
        log.warning("preview cache write failed (%s): rendered again on the next miss", type(exc).__name__)


def settle(timeout: float = 60.0) -> None:
    """Wait until every write behind of this process is done (tests and benchmarks read the store next)."""
    with _behind_lock:
        waiting = list(_pending)
    for future in waiting:
        future.result(timeout=timeout)


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


def _whole_image(relpath: str, data: bytes) -> bool:
    """What the node's copy may hold: a whole image or document, never a remembered failure (a later
    render replaces it at the same key) nor an object cut short."""
    return not data.startswith(ERROR_MARK) and _ends_right(_suffix(relpath), head=data[:8], tail=data[-2:],
                                                          size=len(data))


_MISSING, _LARGE = b"", b"\0"  # what a recent lookup found besides an image or a failure


class DerivedCache:
    def __init__(self, root: ObjectStore | str | Path) -> None:
        if isinstance(root, Path):
            root = str(root).replace("s3:/", "s3://", 1) if str(root).startswith("s3:/") else str(root)
        store = open_store(root) if isinstance(root, str) else root
        # A network store's whole images are also kept on this node's disk (storage/nodecache.py): hot
        # previews skip a round trip, and what was read or written here is served while the store is down.
        self.store: ObjectStore = node_cached(store, keep=_whole_image)
        # relpath -> (when, _MISSING | _LARGE | a failure's JSON): see RECENT_S
        self._recent: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def _note(self, relpath: str, found: bytes) -> None:
        with self._lock:
            if len(self._recent) >= RECENT_MAX:
                self._recent.clear()
            self._recent[relpath] = (time.monotonic(), found)

    def _recently(self, relpath: str, *, within_s: float | None = None) -> bytes | None:
        """What a lookup of this key found an instant ago in this process (None: ask the store)."""
        with self._lock:
            found = self._recent.get(relpath)
        if found is None or time.monotonic() - found[0] > (RECENT_S if within_s is None else within_s):
            return None
        return found[1]

    def _forget(self, relpath: str) -> None:
        with self._lock:
            self._recent.pop(relpath, None)

    def _image(self, relpath: str, data: bytes | None) -> bytes | None:
        """The bytes when they are a whole image/document; a failure mark or a short object is noted
        (the short one removed: a write cut short by a power loss, render again)."""
        if data is None:  # larger than the caller's limit
            self._note(relpath, _LARGE)
            return None
        if data.startswith(ERROR_MARK):
            self._note(relpath, data[len(ERROR_MARK):])
            return None
        if _ends_right(_suffix(relpath), head=data[:8], tail=data[-2:], size=len(data)):
            if self._recent:
                self._forget(relpath)
            return data
        self.store.delete(key=relpath)
        self._note(relpath, _MISSING)
        return None

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
        """The cached object's bytes, if present and complete (see `_ends_right`); None for nothing, a
        short object (removed) or a remembered failure (`get_error` then answers without a request)."""
        return self._looked_up(relpath, lambda key: self.store.get_bytes(key=key) or b"")

    def read(self, relpath: str, *, max_bytes: int) -> bytes | None:
        """The cached bytes when present, complete and at most `max_bytes` (one open, one read: the hot
        path of a cache hit). None otherwise, as in `get`; `exists` then answers without a request."""
        return self._looked_up(relpath, lambda key: self.store.get_bytes(key=key, max_bytes=max_bytes))

    @property
    def near(self) -> bool:
        """This node keeps a copy of what it reads and writes (storage/nodecache.py): `read_near` works."""
        return isinstance(self.store, NodeCachedStore)

    def read_near(self, relpath: str, *, max_bytes: int | None = None) -> bytes | None:
        """`read`, from this node's copy only: no request to the store. For a lookup that will most likely
        miss (previews/streaks.py). A miss here is noted as a miss (RECENT_S), so the caller's next
        questions about the key — "too large?", "remembered failure?" — send no request either."""
        store = self.store
        if not isinstance(store, NodeCachedStore):
            raise TypeError("no node copy to read from")
        return self._looked_up(relpath, lambda key: store.get_near(key=key, max_bytes=max_bytes))

    def _looked_up(self, relpath: str, fetch: Callable[[str], bytes | None]) -> bytes | None:
        """`fetch(key)`'s bytes when they are a whole image (`_image`); a missing object is noted as
        missing (RECENT_S), so the caller's next questions about the key send no request."""
        try:
            data = fetch(self.key(relpath))
        except ObjectMissing:
            self._note(relpath, _MISSING)
            return None
        return self._image(relpath, data)

    def read_nearby(self, relpath: str, *, max_bytes: int) -> bytes | None:
        """`read` where it is a file read: the local store, or this node's own copy of a network store's
        object. Never a network request, so the event loop may call it (previews/fastpath.py); None means
        "not here": `read` it on a thread. Unlike `read_near` it notes nothing and leaves a copy cut short
        (a power loss) to `read`, whose removal of it is a request to the store."""
        if self.local:
            return self.read(relpath, max_bytes=max_bytes)
        data = None
        if isinstance(self.store, NodeCachedStore):
            with contextlib.suppress(ObjectMissing):  # no copy here
                data = self.store.get_near(key=self.key(relpath), max_bytes=max_bytes)
        return data if data is not None and _whole_image(relpath, data) else None

    def exists(self, relpath: str) -> bool:
        """Whether anything is stored under the key: an image (of any size) or a remembered failure."""
        found = self._recently(relpath)
        if found is not None:
            return found != _MISSING
        return self.store.exists(key=self.key(relpath))

    def write(self, relpath: str, data: bytes, *, durable: bool = False) -> None:
        """Atomic publish (see the module docstring for why not durable by default)."""
        self._forget(relpath)
        self.store.put_bytes(key=self.key(relpath), data=data, durable=durable)

    def write_behind(self, relpath: str, data: bytes) -> None:
        """`write`, but on a network store (S3) the PUT is sent by a thread of this process while the caller
        answers with the bytes it has: a cold preview's viewer does not wait for the store's round trip
        and the render thread goes on to the next job. Until the PUT lands another request for the same
        key renders it again (the same bytes: keys are content-addressed); a failed PUT is logged and
        forgotten — derived data, rendered again on the next miss. A local directory writes at once (a
        file write without fsync costs less than handing it over)."""
        if self.local:
            self.write(relpath, data)
            return
        global _behind
        self._forget(relpath)
        with _behind_lock:
            if _behind is None:
                _behind = ThreadPoolExecutor(max_workers=BEHIND_THREADS, thread_name_prefix="yy-derived-put")
            future = _behind.submit(_put_behind, self.store, self.key(relpath), data)
            _pending.add(future)
        future.add_done_callback(_done_behind)

    def write_error(self, relpath: str, detail: dict[str, Any]) -> None:
        """Remember a failure that is a property of the file (bad data, limits, timeout) so the
        same request does not burn a worker again; errors are versioned like the images. Kept at the
        image's own key (ERROR_MARK): a later successful render replaces it."""
        if detail.get("reason") == STORE_DOWN:
            return  # the store, not the file: try again next time
        body = {**detail, "at": time.time()}
        self.write(relpath, ERROR_MARK + json.dumps(body, ensure_ascii=False).encode())

    def get_error(self, relpath: str, *, max_age_s: float = 3600.0) -> dict[str, Any] | None:
        """A remembered failure, for an hour: limits and load change, so failures are retried later.
        Right after `get`/`read` of the same key this costs no request (RECENT_S)."""
        found = self._recently(relpath)
        if found is None:
            self.get(relpath)
            found = self._recently(relpath, within_s=float("inf"))  # what that lookup found
        if not found or found == _LARGE:
            return None
        try:
            value = json.loads(found)
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



def _done_behind(future: Future[None]) -> None:
    with _behind_lock:
        _pending.discard(future)


def derived_beside(originals: ObjectStore) -> ObjectStore:
    return area_beside(originals, DERIVED)
