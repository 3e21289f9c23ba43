"""Whole small objects of an immutable area kept in process memory (the S3 store's originals).

Originals are content-addressed: a key's bytes never change, so a copy can never be stale. A cold
preview reads one original several times — the header (pydicom, through a seekable reader), then the
pixels at the offset ingest recorded — and each read was a request to the store; with this, the first
read fetches the whole object (when it is at most ``WHOLE`` bytes: a CT or MR slice, a CR) and the
rest are slices of it. Larger objects (enhanced multi-frame) keep their ranged reads.

A fetch can also start before anyone reads (``S3ObjectStore.prefetch``: a cold preview asks the
derived cache for the image and fetches its original at the same time). One fetch per key at a time:
whoever claims a key fetches it, a reader that arrives meanwhile waits for that fetch instead of
sending a second GET, and reads it itself if that fetch failed.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future

WHOLE = 4 * 1024 * 1024
BUDGET = 64 * 1024 * 1024  # per process (each render worker has its own)


class ObjectMemo:
    def __init__(self, *, budget: int = BUDGET) -> None:
        self._budget, self._used = budget, 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._large: dict[str, int] = {}  # keys known to be over WHOLE → their size
        self._lock = threading.Lock()
        self._fetching: dict[str, Future[bytes | None]] = {}  # key -> the one fetch under way
        self._pid = os.getpid()

    def claim(self, key: str) -> tuple[Future[bytes | None], bool]:
        """The fetch of ``key`` under way and False, or a new one that the caller must finish
        (:meth:`settle`) and True."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child: its parent's fetches will never finish here
                self._fetching, self._pid = {}, os.getpid()
            future = self._fetching.get(key)
            if future is not None:
                return future, False
            future = Future()
            self._fetching[key] = future
            return future, True

    def settle(self, key: str, future: Future[bytes | None], *, data: bytes | None = None,
               error: BaseException | None = None) -> None:
        """The claimed fetch's outcome (the whole object, None for a large one, or its error) to whoever
        waits for it; the fetch itself keeps what it read (``put``, ``note_large``)."""
        with self._lock:
            if self._fetching.get(key) is future:
                del self._fetching[key]
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(data)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self._budget // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._used += len(data)
            while self._used > self._budget:
                _, dropped = self._items.popitem(last=False)
                self._used -= len(dropped)

    def large(self, key: str) -> int | None:
        return self._large.get(key)

    def note_large(self, key: str, size: int) -> None:
        if len(self._large) > 10_000:
            self._large.clear()
        self._large[key] = size
