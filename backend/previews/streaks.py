"""Which preview lookups will probably miss: the derived cache asked about a run of images.

A viewer scrolling a series in a window nobody rendered before (a custom window, a new width) asks for
one missing preview after another; on an object store each of them costs a lookup (a GET answered 404)
and then, in turn, the GET of the original to render from. When the last lookup of the same series,
window, width, format and quality missed a moment ago, the next one probably misses too: the caller then
starts fetching the original (ObjectStore.prefetch) while it asks for the preview, so the two round trips
overlap. A wrong guess costs one GET whose bytes stay in the originals' memo (storage/memo.py); nothing
is skipped — the lookup still happens, so an image another node rendered is still served, not rendered
again. Per process, in memory, bounded.
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
            prefetch: Callable[[], None] | None) -> bytes | None:
    """``read()`` (the cache lookup), with ``prefetch()`` started first when ``group``'s last lookup
    missed a moment ago (module docstring); None when nothing usable is cached."""
    if prefetch is not None and streaks.expect_miss(group):
        prefetch()
    data = read()
    streaks.note(group, missed=data is None)
    return data
