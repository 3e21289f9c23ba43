"""The derived cache's lifecycle (previews/sweep.py, run by the `sweep` job): other renderer versions,
old previews and old failure notes go; current previews stay; originals are never listed, let alone swept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from backend.previews import spec as S
from backend.previews.cache import DerivedCache
from backend.previews.sweep import sweep_derived
from backend.rendering import RENDERER_VERSION
from backend.rendering.serial import VERSION as INFO_VERSION
from backend.storage.service import storage_at

JPEG = b"\xff\xd8" + b"\x00" * 100 + b"\xff\xd9"
DAY = 86400.0


def _age(root: Path, area: str, key: str, days: float) -> None:
    moment = time.time() - days * DAY
    os.utime(root / area / key, (moment, moment))


def test_sweep_keeps_current_previews_and_originals(tmp_path: Path) -> None:
    storage = storage_at(str(tmp_path))
    cache = DerivedCache(storage.derived)
    sha = "ab" * 32
    fresh = S.preview_spec(sha256=sha, frame=0, window="default", width=512, fmt="jpeg").relpath
    stale = S.preview_spec(sha256=sha, frame=1, window="default", width=512, fmt="jpeg").relpath
    old_renderer = fresh.replace(f"r{RENDERER_VERSION}/", f"r{RENDERER_VERSION}-old/", 1)
    old_facts = f"info/v{INFO_VERSION - 1}/ab/{sha}.json"
    facts = f"info/v{INFO_VERSION}/ab/{sha}.json"
    for key in (fresh, stale, old_renderer):
        cache.write(key, JPEG)
    cache.write(old_facts, b"{}")
    cache.write(facts, b"{}")
    cache.write_error(fresh.replace("0-default", "2-default"), {"reason": "decode_failed"})
    old_note = fresh.replace("0-default", "3-default")
    cache.write_error(old_note, {"reason": "decode_failed"})
    storage.originals.put_bytes(key="dicom/ab/ab/original", data=b"DICM")
    _age(tmp_path, "derived", stale, 200)
    _age(tmp_path, "derived", old_note + ".err", 2)
    _age(tmp_path, "blobs", "dicom/ab/ab/original", 20 * 365)  # originals are kept whatever their age

    counts = sweep_derived(cache=cache)

    assert counts == {"other_version": 2, "old": 1, "old_error": 1}
    left = sorted(info.key for info in storage.derived.list())
    assert left == sorted([fresh, facts, fresh.replace("0-default", "2-default") + ".err"])
    assert storage.originals.get_bytes(key="dicom/ab/ab/original") == b"DICM"
