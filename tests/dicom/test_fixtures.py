"""Shared access to the real DICOM fixture set (tests/data/dicom, see its MANIFEST.md).

Imported by the other test_dicom_* modules; its own test checks that the manifest is complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "dicom"
MANIFEST: list[dict[str, Any]] = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))


def fixture(name: str) -> Path:
    path = DATA / name
    assert path.is_file(), name
    return path


def entry(name: str) -> dict[str, Any]:
    return next(e for e in MANIFEST if e["file"] == name)


def test_manifest_lists_every_fixture_file() -> None:
    on_disk = {
        str(p.relative_to(DATA))
        for p in DATA.rglob("*")
        if p.is_file() and p.name not in ("MANIFEST.md", "manifest.json")
    }
    assert on_disk == {e["file"] for e in MANIFEST}
    assert len(MANIFEST) >= 150
