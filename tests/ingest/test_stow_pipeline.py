"""A STOW-RS request of several batches: each full batch is stored and indexed in a thread while the
next parts are received and parsed (dicomweb/router.py ``flush_behind``), one flush at a time and in
request order; every instance ends up stored once, and a store failure in a flush running behind is
still the request's 503 with nothing half-indexed."""

from __future__ import annotations

import threading
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from backend.db import session_scope
from backend.ingest import service as ingest
from backend.storage.errors import StorageUnavailable
from backend.studies.models import Instance, Study
from tests.family import helpers as h
from tools.synthetic import write_ct_series

SLICES = 10
BATCH = 4  # three flushes: 4 + 4 + 2


def _stow(client: TestClient, headers: dict[str, str], paths: list[Path]) -> object:
    boundary = "yy-pipeline"
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes() + b"\r\n"
                    for p in paths) + f"--{boundary}--\r\n".encode()
    return client.post("/dicomweb/studies", content=body, headers={
        **headers, "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})


def _count(engine: Engine, study_uid: str) -> int:
    with session_scope(engine, readonly=True) as s:
        query = select(func.count()).select_from(Instance).join(Study, col(Instance.study_id) == col(Study.id))
        return int(s.exec(query.where(col(Study.study_instance_uid) == study_uid)).one())


def test_a_full_batch_is_flushed_while_the_next_parts_are_taken(client: TestClient, engine: Engine, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_ct_series(out_dir=tmp_path / "ct", seed=23, slices=SLICES, size=32)
    monkeypatch.setattr(ingest, "BATCH", BATCH)
    dispatched, finished, taken_meanwhile = threading.Event(), threading.Event(), threading.Event()
    order: list[int] = []
    real_take, real_detach = ingest.StowBatch.take, ingest.StowBatch.detach
    real_flush = ingest.StowBatch.flush_detached

    def detach(self: ingest.StowBatch) -> ingest.Detached:
        dispatched.set()  # the first batch handed to its flush
        return real_detach(self)

    def take(self: ingest.StowBatch, part: object, result: object) -> None:
        if dispatched.is_set() and not finished.is_set():
            taken_meanwhile.set()
        real_take(self, part, result)  # type: ignore[arg-type]

    def flush_detached(self: ingest.StowBatch, detached: ingest.Detached) -> None:
        order.append(len(detached.pending))
        if len(order) == 1:  # the first flush waits (up to 10 s) for a later part to be taken meanwhile
            taken_meanwhile.wait(10)
        real_flush(self, detached)
        finished.set()

    monkeypatch.setattr(ingest.StowBatch, "detach", detach)
    monkeypatch.setattr(ingest.StowBatch, "take", take)
    monkeypatch.setattr(ingest.StowBatch, "flush_detached", flush_detached)
    inst = h.hospital(engine)
    res = _stow(client, inst.headers, paths)
    assert res.status_code == 200, res.text[:300]  # type: ignore[attr-defined]
    assert taken_meanwhile.is_set(), "parts were not taken while the first batch was being flushed"
    assert order == [4, 4, 2]
    stored = res.json()["00081199"]["Value"]  # type: ignore[attr-defined]
    uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths]
    assert [s["00081155"]["Value"][0] for s in stored] == uids  # answered in request order
    study_uid = pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID
    assert _count(engine, study_uid) == SLICES
    assert _stow(client, inst.headers, paths).status_code == 200  # type: ignore[attr-defined]
    assert _count(engine, study_uid) == SLICES


def test_a_store_failure_in_a_flush_behind_is_a_503_and_nothing_half_indexed(
        client: TestClient, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_ct_series(out_dir=tmp_path / "ct", seed=29, slices=SLICES, size=32)
    monkeypatch.setattr(ingest, "BATCH", BATCH)
    inst = h.hospital(engine)
    calls: list[int] = []
    real_durable = ingest.StowBatch._make_durable

    def make_durable(self: ingest.StowBatch, batch: list[ingest.Accepted]) -> list[ingest.Accepted]:
        calls.append(len(batch))
        if len(calls) == 2:  # the store goes away during the second batch
            for item in batch:
                item.temp.unlink(missing_ok=True)
            raise StorageUnavailable("the image store is unreachable (test)")
        return real_durable(self, batch)

    monkeypatch.setattr(ingest.StowBatch, "_make_durable", make_durable)
    res = _stow(client, inst.headers, paths)
    assert res.status_code == 503  # type: ignore[attr-defined]
    study_uid = pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID
    assert _count(engine, study_uid) == BATCH  # the first batch is whole; nothing of the rest
    monkeypatch.setattr(ingest.StowBatch, "_make_durable", real_durable)
    assert _stow(client, inst.headers, paths).status_code == 200  # type: ignore[attr-defined]
    assert _count(engine, study_uid) == SLICES
