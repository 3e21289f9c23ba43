"""The delivery service below the routes: cache keys, re-rendering, lost files, races, key images."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from backend.access.principals import OperatorPrincipal
from backend.access.service import authorize_person
from backend.config import Settings
from backend.db import session_scope
from backend.pdf import key_images, service
from backend.pdf.models import PdfDocument
from backend.pdf.router import content_disposition
from backend.pdf.verification import make_code
from tests.pdf.helpers import World, ct_with_report


def _job(s: Session, settings: Settings, w: World, *, lang: str = "zh-CN") -> service.Job:
    access = authorize_person(session=s, principal=OperatorPrincipal(), person_id=w.person_id)
    return service.imaging_report_job(session=s, settings=settings, blobs=settings.storage.originals,
                                      access=access, study_id=w.study_id, lang=lang)


def _deliver(engine: Engine, settings: Settings, w: World, **kw: str) -> service.PdfFile:
    with session_scope(engine) as s:
        pdf = service.deliver(session=s, settings=settings, job=_job(s, settings, w, **kw))
        s.expunge(pdf.row)
    return pdf


def test_second_delivery_is_a_cache_hit_and_a_lost_file_renders_identically(
        client: TestClient, app: FastAPI, engine: Engine, settings: Settings) -> None:
    w = ct_with_report(client, app, engine)
    first = _deliver(engine, settings, w)
    hit = _deliver(engine, settings, w)
    assert (first.cached, hit.cached) == (False, True) and hit.data == first.data
    # The cache directory was wiped: same inputs, same code, same time → the very same bytes.
    path = settings.data_dir / "pdf" / service.PdfStore.key(first.row.document_hash)  # the local store's file
    path.unlink()
    again = _deliver(engine, settings, w)
    assert again.cached is False and again.data == first.data and path.is_file()
    # A torn (edited) file is not served either.
    path.write_bytes(first.data[:1000])
    assert _deliver(engine, settings, w).data == first.data


def test_template_change_renders_a_new_document(client: TestClient, app: FastAPI, engine: Engine,
                                                settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    w = ct_with_report(client, app, engine)
    before = _deliver(engine, settings, w)
    monkeypatch.setattr(service, "templates_fingerprint", lambda: "0123456789abcdef")
    after = _deliver(engine, settings, w)
    assert after.cached is False and after.row.id != before.row.id
    assert after.row.content_hash == before.row.content_hash  # same report; another rendering of it
    english = _deliver(engine, settings, w, lang="en")
    assert english.row.id not in (before.row.id, after.row.id) and english.row.lang == "en"


def test_a_concurrent_render_of_the_same_inputs_serves_the_winner(client: TestClient, app: FastAPI, engine: Engine,
                                                                  settings: Settings) -> None:
    w = ct_with_report(client, app, engine)
    winner: dict[str, str] = {}
    with session_scope(engine) as s:
        job = _job(s, settings, w)
        real = job.render

        def render_while_another_request_finishes_first(doc: object, meta: object) -> bytes:
            pdf = real(doc, meta)  # type: ignore[arg-type]
            other = pdf + b"\n%other request\n"
            with session_scope(engine) as other_session:
                code = make_code(key=b"k", content_hash="sha256:x")
                other_session.add(PdfDocument(
                    id=code[:16], signature=code[16:], cache_key=job.cache_key, kind=job.kind, person_id=w.person_id,
                    object_id=w.study_id, lang="zh-CN", content_hash="sha256:x",
                    document_hash=service.store_for(settings).write(other), size=len(other), filename="x.pdf",
                    institution_name="-", title="-", masked_patient_name="-"))
                winner["id"] = code[:16]
            return pdf

        pdf = service.deliver(session=s, settings=settings,
                              job=replace(job, render=render_while_another_request_finishes_first))
        assert pdf.row.id == winner["id"] and pdf.data.endswith(b"%other request\n")
    with session_scope(engine) as s:
        assert [d.id for d in s.exec(select(PdfDocument)).all()] == [winner["id"]]


def test_spread_picks_evenly_spaced_inner_frames() -> None:
    assert key_images.spread(300, 4) == [60, 120, 180, 240]
    assert key_images.spread(3, 4) == [0, 1, 2]
    assert key_images.spread(1, 4) == [0]
    assert key_images.spread(0, 4) == []
    assert key_images.spread(5, 2) == [1, 3]


def test_key_frames_come_from_the_largest_series(client: TestClient, app: FastAPI, engine: Engine) -> None:
    w = ct_with_report(client, app, engine)
    with session_scope(engine) as s:
        frames = key_images.choose_frames(session=s, study_id=w.study_id)
    assert [f.position for f in frames] == [1, 2, 3] and {f.total for f in frames} == {3}
    assert len({f.sha256 for f in frames}) == 3
    assert key_images.caption(frames[0], lang="zh-CN").startswith("序列")


def test_key_images_that_cannot_be_decoded_are_left_out(client: TestClient, app: FastAPI, engine: Engine,
                                                        settings: Settings, tmp_path: Path) -> None:
    w = ct_with_report(client, app, engine)
    blobs = settings.storage.originals
    with session_scope(engine) as s:
        frames = key_images.choose_frames(session=s, study_id=w.study_id)
    broken = replace(frames[0], blob_key=frames[1].blob_key, sha256="0" * 64, pixel_data_offset=10**9)
    images = key_images.render_frames(frames=[broken, frames[2]], blobs=blobs, derived_root=tmp_path / "d",
                                      max_pixels=settings.max_pixels, lang="zh-CN")
    assert len(images) == 1 and images[0].data[:2] == b"\xff\xd8"  # the good one, as JPEG


def test_content_disposition_rfc6266_5987() -> None:
    header = content_disposition("张伟_胸部CT平扫_20240302.pdf", attachment=True)
    assert header == ("attachment; filename=\"CT_20240302.pdf\"; filename*=UTF-8''"
                      "%E5%BC%A0%E4%BC%9F_%E8%83%B8%E9%83%A8CT%E5%B9%B3%E6%89%AB_20240302.pdf")
    assert content_disposition("王芳_血常规_20250601.pdf", attachment=False).startswith(
        'inline; filename="report_20250601.pdf"; ')
    odd = content_disposition('a"b;c\\d 报告.pdf', attachment=False)
    assert odd.startswith('inline; filename="a_b_c_d') and '"b' not in odd.split("filename*")[1]


def test_new_images_for_the_study_render_a_new_document(client: TestClient, app: FastAPI, engine: Engine,
                                                        settings: Settings) -> None:
    from datetime import timedelta

    from backend.studies.models import Study

    w = ct_with_report(client, app, engine)
    before = _deliver(engine, settings, w)
    assert _deliver(engine, settings, w).cached
    with session_scope(engine) as s:  # what ingest does when another batch of the study is stored
        study = s.get(Study, w.study_id)
        assert study is not None
        study.last_received_at = study.last_received_at + timedelta(minutes=5)
        s.add(study)
    after = _deliver(engine, settings, w)
    assert after.cached is False and after.row.id != before.row.id
