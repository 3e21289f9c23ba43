"""The cache lifecycle: derived objects (previews, scrub strips, frame facts, remembered failures) and
rendered PDFs are swept by renderer version and by age; originals and series metadata are never touched —
the sweep lists only the ``derived`` and ``pdf`` areas (storage/service.py), so it cannot reach them.

Everything swept is rendered again on demand, byte for byte (content-addressed keys, pinned renderer):
a preview on the next view, a PDF on the next download (pdf/service.py checks the stored document's
hash and re-renders a missing one identically). Idempotent: two sweeps at once delete the same objects.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from backend.storage.base import ObjectStore
from backend.storage.errors import ObjectMissing
from backend.storage.service import Storage

DAY = 86_400.0
DERIVED_MAX_AGE_S = 90 * DAY  # previews are cheap to redo (a few ms each), storage at 21 TB/day is not
PDF_MAX_AGE_S = 30 * DAY
ERROR_MAX_AGE_S = 3600.0  # remembered render failures are ignored after an hour anyway (previews/cache.py)
# Decoded frames of compressed originals (previews/decoded.py, keys ``r<v>/px/…``) are large — ~225 kB
# per 512x512 slice, about the compressed original's size — and pay off while a study is being looked
# at, which is mostly the days after the exam: a shorter age than the previews' (a frame swept is
# decoded again on its next render, ~2-16 ms).
DECODED_MAX_AGE_S = 7 * DAY
DECODED_PART = "/px/"
ERROR_SUFFIX = ".err"


@dataclass
class SweepReport:
    examined: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str, size: int) -> None:
        self.deleted += 1
        self.bytes_freed += size
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


def sweep(*, storage: Storage, current: Iterable[str], derived_max_age_s: float = DERIVED_MAX_AGE_S,
          pdf_max_age_s: float = PDF_MAX_AGE_S, now: float | None = None, dry_run: bool = False) -> SweepReport:
    """Delete from ``derived/`` every object outside the ``current`` key prefixes (an older renderer or
    frame-facts version: ``r3/``, ``info/v1/`` …), current ones older than ``derived_max_age_s``,
    decoded frames older than a week, remembered failures older than an hour; from ``pdf/`` documents
    older than ``pdf_max_age_s``."""
    moment = time.time() if now is None else now
    live = tuple(current)
    report = SweepReport()
    for info in storage.derived.list():
        report.examined += 1
        age = moment - info.modified
        if not info.key.startswith(live):
            reason = "old_version"
        elif info.key.endswith(ERROR_SUFFIX) and age > ERROR_MAX_AGE_S:
            reason = "old_error"
        elif DECODED_PART in info.key and age > min(DECODED_MAX_AGE_S, derived_max_age_s):
            reason = "decoded_age"
        elif age > derived_max_age_s:
            reason = "age"
        else:
            continue
        _delete(storage.derived, info.key, info.size, reason, report, dry_run)
    for info in storage.pdf.list():
        report.examined += 1
        if moment - info.modified > pdf_max_age_s:
            _delete(storage.pdf, info.key, info.size, "pdf_age", report, dry_run)
    return report


def _delete(store: ObjectStore, key: str, size: int, reason: str, report: SweepReport, dry_run: bool) -> None:
    if not dry_run:
        try:
            store.delete(key=key)
        except ObjectMissing:
            return  # another sweep was first
    report.count(reason, size)


def current_derived_prefixes() -> tuple[str, ...]:
    """The key prefixes the running renderer writes (previews/spec.py, jobs.py's frame facts)."""
    from backend.rendering import RENDERER_VERSION
    from backend.rendering.serial import VERSION as INFO_VERSION

    return (f"r{RENDERER_VERSION}/", f"info/v{INFO_VERSION}/")
