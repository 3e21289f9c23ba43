"""Which preview lookups will probably miss: the derived cache asked about a run of images.

A viewer scrolling a series in a window nobody rendered before (a custom window, a new width) asks for
one missing preview after another; on an object store each of them cost a lookup (a GET answered 404)
and then, in turn, the GET of the original to render from. When the last lookup of the same series,
window, width, format and quality missed a moment ago, the next one will most likely miss too. Then:

* with a node copy of derived objects (storage/nodecache.py), the lookup reads only that copy, and a miss
  there is rendered without asking the store. This node's own earlier renders are in its copy, so a
  viewer scrolling back finds them (and the streak ends); a wrong guess is an image only another node or
  the pre-render worker made in the last seconds: rendered again here (the same content-addressed key,
  the same bytes, PUT again), never a wrong image;
* without one, the original is fetched (ObjectStore.prefetch) while the store is asked for the preview,
  so the two round trips overlap; a wrong guess costs one GET whose bytes stay in the originals' memo
  (storage/memo.py).

Callers use it only where the render runs in their own process from the original's native pixels
(previews/service.py ``cached_image``): bounded in time, no decoder, so a remembered failure that the
node-only lookup does not see costs at most one such render. Per process, in memory, bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

WITHIN_S = 10.0  # a scroll's next image comes within milliseconds; a pause longer than this starts afresh
MAX_GROUPS = 1024


class MissStreaks:
    def __init__(self, *, within_s: float = WITHIN_S, max_groups: int = MAX_GROUPS) -> None:
        self._within_s, self._max = within_s, max_groups
        self._missed: dict[Hashable, float] = {}  # group -> when its last lookup missed
        self._lock = threading.Lock()

    def expect_miss(self, group: Hashable) -> bool:
        with self._lock:
            at = self._missed.get(group)
        return at is not None and time.monotonic() - at <= self._within_s

    def note(self, group: Hashable, *, missed: bool) -> None:
        with self._lock:
            if not missed:
                self._missed.pop(group, None)
                return
            if len(self._missed) >= self._max and group not in self._missed:
                self._missed.clear()
            self._missed[group] = time.monotonic()


def look_up(streaks: MissStreaks, *, group: Hashable, read: Callable[[], bytes | None],
            read_near: Callable[[], bytes | None] | None, prefetch: Callable[[], None] | None) -> bytes | None:
    """``read()`` (the cache lookup); None when nothing usable is cached. When ``group``'s last lookup
    missed a moment ago (module docstring): ``read_near()`` instead when given — this node's copy only, no
    request to the store — else ``prefetch()`` first, then ``read()``."""
    if streaks.expect_miss(group):
        if read_near is not None:
            data = read_near()
            streaks.note(group, missed=data is None)
            return data
        if prefetch is not None:
            prefetch()
    data = read()
    streaks.note(group, missed=data is None)
    return data
