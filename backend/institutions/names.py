"""Institution names for display (timeline cards, a study's or lab's hospital), cached in each process.

Why a cache: every timeline page asked the database for the names of the hospitals on it, one more
statement on the busiest read (issue 18). Why it may be stale for a while and how long: a name is set
when the hospital is created and the application never changes it; ids are never reused (ids.py). A
name changed by an operator directly in the database shows on every node within ``TTL_S``, which is
the cross-node invalidation: no node needs to be told. Names are not health data.
"""

from __future__ import annotations

import threading
import time

from sqlmodel import Session, col, select

from .models import Institution

TTL_S = 300.0
MAX_ENTRIES = 4096  # a province has a few hundred hospitals; the bound only guards against surprises

_names: dict[str, tuple[str, float]] = {}  # id -> (name, monotonic time it was read)
_lock = threading.Lock()


def names(*, session: Session, ids: set[str]) -> dict[str, str]:
    """{id: name} of these institutions (unknown ids are left out), from the cache or one query."""
    now = time.monotonic()
    found: dict[str, str] = {}
    missing: list[str] = []
    for institution_id in ids:
        hit = _names.get(institution_id)
        if hit is not None and now - hit[1] < TTL_S:
            found[institution_id] = hit[0]
        else:
            missing.append(institution_id)
    if not missing:
        return found
    rows = session.exec(select(Institution.id, Institution.name).where(col(Institution.id).in_(sorted(missing)))).all()
    with _lock:
        if len(_names) + len(rows) > MAX_ENTRIES:
            _names.clear()
        for institution_id, name in rows:
            _names[institution_id] = (name, now)
            found[institution_id] = name
    return found


def forget() -> None:
    """Drop every cached name (tests that reuse a process across databases)."""
    with _lock:
        _names.clear()
