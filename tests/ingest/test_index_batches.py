"""The index transaction across several STOW batches of one study (ingest/index.py): a batch that only adds
instances to known series takes the short path (Core statements, the timeline entry's counts only); a batch
with a new series, a waiting report or an earlier acquisition time must still change what it changes."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from backend.access.principals import InstitutionPrincipal
from backend.config import Settings
from backend.db import session_scope
from backend.dicom.multipart import Part
from backend.dicom.parse import ParseLimits
from backend.ingest.parsing import ParseResult, parse_file
from backend.ingest.service import StowBatch
from backend.jobs import service as outbox
from backend.records import service as records
from backend.records.models import TimelineEntry
from backend.reports.models import DiagnosticReport
from backend.studies.models import Instance, Series, Study
from tests.family.helpers import hospital
from tools import synthetic

LIMITS = ParseLimits(max_file_bytes=64 * 1024**2, max_pixels=10**8)


def _send(settings: Settings, engine: Engine, institution_id: str, files: list[Path], tmp: Path,
          results: list[ParseResult] | None = None) -> StowBatch:
    """One STOW request of these files, as the router drives StowBatch: one batch (one flush)."""
    batch = StowBatch(settings=settings, engine=engine, blobs=settings.storage.originals,
                      principal=InstitutionPrincipal(institution_id=institution_id, key_id="test"),
                      base_url="http://testserver/dicomweb")
    spool = settings.data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    for n, source in enumerate(files):
        copy = spool / f"{tmp.name}-{source.name}-{n}"
        shutil.copyfile(source, copy)
        data = copy.read_bytes()
        result = results[n] if results is not None else parse_file(copy, LIMITS)
        batch.take(Part(index=n, headers={}, content_type="application/dicom", transfer_syntax=None, path=copy,
                        size=len(data), sha256=hashlib.sha256(data).hexdigest()), result)
    batch.flush()
    assert not batch.failed, batch.failed
    return batch


def _entry(engine: Engine) -> dict[str, Any]:
    with session_scope(engine, readonly=True) as s:
        entry = s.exec(select(TimelineEntry)).one()
        return entry.model_dump(exclude={"updated_at", "created_at"})


def _study(engine: Engine) -> Study:
    with session_scope(engine, readonly=True) as s:
        return s.exec(select(Study)).one()


def test_counts_only_batches_leave_the_entry_a_full_sync_would_write(
        settings: Settings, engine: Engine, tmp_path: Path) -> None:
    inst = hospital(engine)
    files = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=5, slices=5, size=32)
    _send(settings, engine, inst.id, files[:2], tmp_path / "a")  # new study and series: everything
    _send(settings, engine, inst.id, files[2:4], tmp_path / "b")  # counts only
    _send(settings, engine, inst.id, files[4:], tmp_path / "c")
    entry = _entry(engine)
    assert entry["person_id"] is not None  # the header's resident ID linked a person: the short path applies
    assert (entry["data"]["instance_count"], entry["data"]["series_count"]) == (5, 1)
    with session_scope(engine) as s:
        study = s.exec(select(Study)).one()
        assert (study.instance_count, study.series_count, study.modalities) == (5, 1, "CT")
        records.sync(session=s, kind="imaging_study", ref_id=study.id)  # what the long path would write
    assert _entry(engine) == entry


def test_a_later_batch_with_a_series_of_another_modality_updates_modalities_timeline_and_outbox(
        settings: Settings, engine: Engine, tmp_path: Path) -> None:
    inst = hospital(engine)
    ct = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=6, slices=3, size=32)
    cr = synthetic.write_chest_cr(out_dir=tmp_path / "cr", seed=6, rows=64, columns=64)
    header = pydicom.dcmread(ct[0], stop_before_pixels=True)
    image = pydicom.dcmread(cr)
    image.StudyInstanceUID, image.AccessionNumber = header.StudyInstanceUID, header.AccessionNumber  # one study
    image.save_as(cr)
    _send(settings, engine, inst.id, ct[:2], tmp_path / "a")
    _send(settings, engine, inst.id, ct[2:], tmp_path / "b")
    assert _entry(engine)["data"]["modalities"] == ["CT"]
    _send(settings, engine, inst.id, [cr], tmp_path / "c")  # a CR series of the same study
    study = _study(engine)
    assert (study.instance_count, study.series_count, study.modalities) == (4, 2, "CR\\CT")
    entry = _entry(engine)
    assert entry["data"]["modalities"] == ["CR", "CT"] and entry["data"]["series_count"] == 2
    assert entry["tags"] == " CR CT "
    with session_scope(engine, readonly=True) as s:
        series_ids = set(s.exec(select(Series.id)).all())
        queued = {row.key for row in outbox.waiting(s, kind=outbox.PRERENDER)}
    assert queued == series_ids and len(series_ids) == 2


def test_a_report_waiting_for_the_study_is_attached_by_a_later_batch(
        settings: Settings, engine: Engine, tmp_path: Path) -> None:
    """On PostgreSQL a report stored while the study's first batch was uncommitted waits (study_id NULL);
    the next batch of the study attaches it, as it did before the short path."""
    inst = hospital(engine)
    files = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=7, slices=2, size=32)
    _send(settings, engine, inst.id, files[:1], tmp_path / "a")
    study = _study(engine)
    with session_scope(engine) as s:
        s.add(DiagnosticReport(institution_id=inst.id, accession_number=study.accession_number,
                               study_instance_uid=None, status="final", exam_items=["胸部CT增强"],
                               impression="未见异常", reported_at=datetime.fromisoformat("2024-05-20T12:00:00+08:00")))
    _send(settings, engine, inst.id, files[1:], tmp_path / "b")
    with session_scope(engine, readonly=True) as s:
        report = s.exec(select(DiagnosticReport)).one()
    assert report.study_id == study.id
    entry = _entry(engine)
    assert (entry["status"], entry["data"]["has_report"], entry["data"]["instance_count"]) == ("final", True, 2)


def test_the_earliest_acquisition_of_any_batch_is_kept(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    inst = hospital(engine)
    files = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=8, slices=3, size=32)
    parsed = [parse_file(path, LIMITS) for path in files]

    def acquired(result: ParseResult, at: datetime) -> ParseResult:
        assert result.meta is not None
        meta = dataclasses.replace(result.meta, study=dataclasses.replace(result.meta.study, acquisition_datetime=at))
        return dataclasses.replace(result, meta=meta)

    first = datetime.fromisoformat("2024-05-20T09:30:00+08:00")
    _send(settings, engine, inst.id, files[:1], tmp_path / "a", [acquired(parsed[0], first)])
    _send(settings, engine, inst.id, files[1:2], tmp_path / "b", [acquired(parsed[1], first - timedelta(hours=2))])
    assert _study(engine).acquired_at == first - timedelta(hours=2)
    _send(settings, engine, inst.id, files[2:], tmp_path / "c", [acquired(parsed[2], first + timedelta(hours=5))])
    study = _study(engine)
    assert study.acquired_at == first - timedelta(hours=2) and study.instance_count == 3


def test_an_unmatched_study_takes_the_long_path_and_its_counts_follow(
        settings: Settings, engine: Engine, tmp_path: Path) -> None:
    inst = hospital(engine)
    nobody = synthetic.SyntheticPatient(patient_id="NJ0009999", resident_id=None)
    files = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=9, slices=3, size=32, patient=nobody)
    for n, path in enumerate(files):
        _send(settings, engine, inst.id, [path], tmp_path / f"b{n}")
    entry = _entry(engine)
    assert entry["person_id"] is None and entry["data"]["instance_count"] == 3
    with session_scope(engine, readonly=True) as s:
        assert s.exec(select(col(Study.person_id))).one() is None


def test_a_row_another_client_stored_meanwhile_fails_only_itself_and_counts_stay_exact(
        settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the duplicate lookup cannot see (another client's batch committed between it and this one's
    INSERT): the batch's INSERT fails in its savepoint, which must undo the rows it inserted before the
    failing one, and the rows are inserted one by one. Without the savepoint SQLite keeps those rows and
    they are then taken for another client's (counters short), and PostgreSQL aborts the transaction."""
    inst = hospital(engine)
    files = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=10, slices=4, size=32)
    _send(settings, engine, inst.id, files[2:3], tmp_path / "a")
    monkeypatch.setattr(StowBatch, "_existing_shas", lambda self, uids: {})  # the lookup ran before it committed
    batch = _send(settings, engine, inst.id, files, tmp_path / "b")
    assert sorted(s.note or "" for s in batch.stored) == ["", "", "", "already stored"]
    with session_scope(engine, readonly=True) as s:
        study, series = s.exec(select(Study)).one(), s.exec(select(Series)).one()
        stored = s.exec(select(func.count()).select_from(Instance)).one()
    assert (stored, study.instance_count, series.instance_count) == (4, 4, 4)
    assert study.total_bytes == sum(path.stat().st_size for path in files)
