"""Whole small objects of an immutable area kept in process memory (the S3 store's originals).

Originals are content-addressed: a key's bytes never change, so a copy can never be stale. A cold
preview reads one original several times — the header (pydicom, through a seekable reader), then the
pixels at the offset ingest recorded — and each read was a request to the store; with this, the first
read fetches the whole object (when it is at most ``WHOLE`` bytes: a CT or MR slice, a CR) and the
rest are slices of it. Larger objects (enhanced multi-frame) keep their ranged reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

WHOLE = 4 * 1024 * 1024
BUDGET = 64 * 1024 * 1024  # per process (each render worker has its own)


class ObjectMemo:
    def __init__(self, *, budget: int = BUDGET) -> None:
        self._budget, self._used = budget, 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._large: dict[str, int] = {}  # keys known to be over WHOLE → their size
        self._lock = threading.Lock()

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
