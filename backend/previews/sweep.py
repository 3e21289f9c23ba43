"""The derived cache's lifecycle: what the `sweep` job (backend/jobs) removes from the `derived` area.

* Every object of another renderer version (`r<N>/…`) or frame-facts layout (`info/v<N>/…`): nothing
  reads them any more (spec.py puts the version in every key), so a new renderer frees the old tree.
* Objects older than MAX_AGE (by write time): previews of studies nobody opened for months. They are
  rendered again, identically, when someone asks; pre-rendering is for the days after a study arrives.
* Remembered render failures (`*.err`) older than a day, as `DerivedCache.get_error` ignores them anyway.

Only the derived area is listed: originals and metadata documents live in other areas of the store and
are never swept. At province scale a listing of the derived area is itself costly; there the same rules
belong in the bucket's lifecycle configuration (expiration by prefix and age), see docs/jobs.md.
"""

from __future__ import annotations

import time
from datetime import timedelta

from backend.rendering import RENDERER_VERSION
from backend.rendering.serial import VERSION as INFO_VERSION

from .cache import ERROR_SUFFIX, DerivedCache

MAX_AGE = timedelta(days=90)
ERROR_MAX_AGE = timedelta(days=1)


def sweep_derived(*, cache: DerivedCache, max_age: timedelta = MAX_AGE, now: float | None = None) -> dict[str, int]:
    """Delete what the rules above name; returns counts by reason."""
    now = time.time() if now is None else now
    current = (f"r{RENDERER_VERSION}/", f"info/v{INFO_VERSION}/")
    counts = {"other_version": 0, "old": 0, "old_error": 0}
    doomed: list[tuple[str, str]] = []
    for info in cache.store.list():
        if not info.key.startswith(current):
            doomed.append((info.key, "other_version"))
        elif info.key.endswith(ERROR_SUFFIX) and info.modified < now - ERROR_MAX_AGE.total_seconds():
            doomed.append((info.key, "old_error"))
        elif info.modified < now - max_age.total_seconds():
            doomed.append((info.key, "old"))
    # A scrub layout goes before its sheets: a layout always means its sheets are there (jobs.py writes
    # the sheets first), also while a sweep runs.
    for key, reason in sorted(doomed, key=lambda item: not item[0].endswith("/layout.json")):
        cache.store.delete(key=key)
        counts[reason] += 1
    return counts
