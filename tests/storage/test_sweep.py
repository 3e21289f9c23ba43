"""The cache lifecycle: derived objects of an older renderer go, current ones by age, remembered failures
after an hour, PDFs by age — originals and series metadata never, however old."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backend.storage.service import Storage, open_store
from backend.storage.sweep import DAY, current_derived_prefixes, sweep

NOW = time.time()


def _age(storage: Storage, area: str, key: str, days: float) -> None:
    """Local store only: an object written ``days`` ago (S3 servers set their own time)."""
    path = Path(storage.root.locator) / area / key
    os.utime(path, (NOW - days * DAY, NOW - days * DAY))


def _fill(storage: Storage) -> None:
    live = current_derived_prefixes()[0]
    storage.originals.put_bytes(key="dicom/ab/cd/abcd", data=b"original")
    storage.meta.put_bytes(key="series/s1.json.gz", data=b"doc")
    storage.derived.put_bytes(key=f"{live}p/ab/abcd/0-default-512-q85.jpg", data=b"\xff\xd8new\xff\xd9")
    storage.derived.put_bytes(key="r0/p/ab/abcd/0-default-512-q85.jpg", data=b"\xff\xd8old renderer\xff\xd9")
    storage.derived.put_bytes(key="info/v0/ab/abcd.json", data=b"{}")
    storage.pdf.put_bytes(key="ab/abcd.pdf", data=b"%PDF-1.7")


def test_old_renderer_versions_go_everything_else_stays(tmp_path: Path, s3_url: str) -> None:
    for storage in (Storage(root=open_store(str(tmp_path / "local"))), Storage(root=open_store(s3_url))):
        _fill(storage)
        report = sweep(storage=storage, current=current_derived_prefixes(), now=NOW)
        assert (report.deleted, report.by_reason) == (2, {"old_version": 2})
        assert {i.key.split("/")[0] for i in storage.derived.list()} == {current_derived_prefixes()[0].strip("/")}
        assert storage.originals.exists(key="dicom/ab/cd/abcd") and storage.meta.exists(key="series/s1.json.gz")
        assert storage.pdf.exists(key="ab/abcd.pdf")


def test_by_age_and_never_originals(tmp_path: Path) -> None:
    storage = Storage(root=open_store(str(tmp_path / "local")))
    _fill(storage)
    live = current_derived_prefixes()[0]
    storage.derived.put_bytes(key=f"{live}p/ab/abcd/0-lung-512-q85.jpg.err", data=b'{"reason": "x"}')
    _age(storage, "derived", f"{live}p/ab/abcd/0-lung-512-q85.jpg.err", 0.1)
    for area, key in (("blobs", "dicom/ab/cd/abcd"), ("meta", "series/s1.json.gz"), ("pdf", "ab/abcd.pdf"),
                      ("derived", f"{live}p/ab/abcd/0-default-512-q85.jpg")):
        _age(storage, area, key, 5000)  # far older than any limit
    dry = sweep(storage=storage, current=current_derived_prefixes(), now=NOW, dry_run=True)
    assert dry.deleted == 5 and len(list(storage.derived.list())) == 4  # nothing deleted by a dry run
    report = sweep(storage=storage, current=current_derived_prefixes(), now=NOW)
    assert report.by_reason == {"old_version": 2, "old_error": 1, "age": 1, "pdf_age": 1}
    assert report.bytes_freed > 0 and list(storage.derived.list()) == [] and list(storage.pdf.list()) == []
    assert storage.originals.get_bytes(key="dicom/ab/cd/abcd") == b"original"
    assert storage.meta.exists(key="series/s1.json.gz")
    assert sweep(storage=storage, current=current_derived_prefixes(), now=NOW).deleted == 0  # idempotent


def test_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.cli import app

    monkeypatch.setenv("YUNYING_DATA_DIR", str(tmp_path / "data"))
    storage = Storage(root=open_store(str((tmp_path / "data").resolve())))
    _fill(storage)
    result = CliRunner().invoke(app, ["storage", "sweep", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert '"deleted": 2' in result.output and '"dry_run": true' in result.output
    assert CliRunner().invoke(app, ["storage", "sweep"]).exit_code == 0
    assert len(list(storage.derived.list())) == 1
    assert CliRunner().invoke(app, ["storage", "check"]).exit_code == 0


def test_decoded_frames_go_after_a_week_previews_stay(tmp_path: Path) -> None:
    storage = Storage(root=open_store(str(tmp_path / "local")))
    live = current_derived_prefixes()[0]
    frame, preview = f"{live}px/ab/abcd/0.v1.zst", f"{live}p/ab/abcd/0-default-512-q85.jpg"
    for key in (frame, preview):
        storage.derived.put_bytes(key=key, data=b"\xff\xd8x\xff\xd9")
        _age(storage, "derived", key, 8)
    report = sweep(storage=storage, current=current_derived_prefixes(), now=NOW)
    assert report.by_reason == {"decoded_age": 1}
    assert [i.key for i in storage.derived.list()] == [preview]
