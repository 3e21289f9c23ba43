"""The pipeline around the renderer: pre-rendering from the ingest queue, the decode-time budget
(worker killed, clear 4xx or a placeholder thumbnail), and crash safety of the derived cache."""

from __future__ import annotations

import io
import multiprocessing
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import update
from sqlalchemy.engine import Engine

from backend.clock import utcnow
from backend.db import session_scope
from backend.jobs import service as outbox
from backend.jobs.models import JobOutbox
from backend.previews import spec as S
from backend.previews.cache import DerivedCache
from tests.previews.helpers import instances_of, patient_with_study, series_of, started, study_of
from tools.synthetic import write_chest_cr, write_ct_series

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _due_now(engine: Engine) -> None:
    with session_scope(engine) as s:
        s.execute(update(JobOutbox).values(due_at=utcnow() - timedelta(minutes=1)))


def _prerender_jobs(engine: Engine) -> list[JobOutbox]:
    with session_scope(engine, readonly=True) as s:
        return outbox.waiting(s, kind=outbox.PRERENDER)


def test_ingest_queues_prerendering_and_first_open_is_a_cache_hit(app: FastAPI, engine: Engine,
                                                                  tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path, seed=11, slices=20, size=128)
    with started(app, pool=2) as client:
        person, _ = patient_with_study(client, app, engine, paths)
        assert len(_prerender_jobs(engine)) == 1  # an outbox row, committed with the instances
        _due_now(engine)
        runtime = app.state.previews
        assert app.state.jobs.run_once((outbox.PRERENDER,)) == 1  # what the node's prerender lane does
        assert _prerender_jobs(engine) == []
        series = series_of(engine, study_of(engine, person).id)[0]
        instances = instances_of(engine, series.id)
        for inst in instances:  # every frame's default-window 512 preview is on disk
            spec = S.preview_spec(sha256=inst.sha256, frame=0, window="default", width=512, fmt="jpeg")
            assert runtime.cache.get(spec.relpath) is not None
        middle = instances[len(instances) // 2]
        thumb = S.preview_spec(sha256=middle.sha256, frame=0, window="default", width=128, fmt="jpeg")
        assert runtime.cache.get(thumb.relpath) is not None
        thumb_path = Path(runtime.cache.root) / thumb.relpath  # the local store: a file under the data dir
        before = thumb_path.stat().st_mtime_ns
        detail = client.get(f"/api/v1/people/{person}/studies/{study_of(engine, person).id}").json()
        previews = detail["series"][0]["previews"]
        r = client.get(previews["thumbnail"])
        assert r.status_code == 200 and r.content == thumb_path.read_bytes()
        assert thumb_path.stat().st_mtime_ns == before  # served, not re-rendered
        scrub = client.get(previews["scrub"]).json()
        assert scrub["frame_count"] == 20


def test_render_over_budget_is_abandoned_with_a_reason_or_a_placeholder(app: FastAPI, engine: Engine,
                                                                       tmp_path: Path) -> None:
    cr = write_chest_cr(out_dir=tmp_path, seed=4, rows=1024, columns=1024)
    app.state.preview_timeout = 0.05  # far below a worker's start-up + a 1k CR render
    with started(app, pool=1) as client:
        person, _ = patient_with_study(client, app, engine, [cr])
        inst = instances_of(engine, series_of(engine, study_of(engine, person).id)[0].id)[0]
        url = f"/api/v1/people/{person}/previews/{inst.id}/0/default/512.jpg"
        r = client.get(url)
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("preview-render-timeout") and r.json()["message"]["zh"]
        thumb = client.get(f"/api/v1/people/{person}/previews/{inst.id}/0/default/128.jpg?placeholder=1")
        assert thumb.status_code == 200 and thumb.headers["x-preview-error"] == "render_timeout"
        assert thumb.headers["cache-control"] == "no-store"
        assert Image.open(io.BytesIO(thumb.content)).size == (128, 128)
        # the failure is remembered: the next request answers at once, no worker burnt
        t0 = time.perf_counter()
        assert client.get(url).status_code == 422
        assert time.perf_counter() - t0 < 0.5


def test_a_render_starved_of_cpu_is_a_503_to_retry_not_a_remembered_failure(
        app: FastAPI, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy machine (the standard load run's 422s, issue 18): the worker got no CPU within 4× its
    budget. The answer is a 503 with Retry-After, and the next request renders the image."""
    from backend.previews import pool

    cr = write_chest_cr(out_dir=tmp_path, seed=5, rows=1024, columns=1024)
    with started(app, pool=1) as client:
        person, _ = patient_with_study(client, app, engine, [cr])
        inst = instances_of(engine, series_of(engine, study_of(engine, person).id)[0].id)[0]
        url = f"/api/v1/people/{person}/previews/{inst.id}/0/default/512.jpg"
        monkeypatch.setattr(pool, "_cpu_seconds", lambda pid: 0.0)  # as if the worker never ran
        monkeypatch.setattr(app.state.previews.pool, "timeout", 0.05)
        r = client.get(url)
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("preview-render-busy") and r.json()["message"]["zh"]
        assert int(r.headers["retry-after"]) > 0
        monkeypatch.undo()
        assert client.get(url).status_code == 200  # nothing was remembered against the file


def _write_then_hang(root: str, relpath: str) -> None:
    import os

    def hang(src: object, dst: object) -> None:  # the data is written; the process "dies" before the rename
        time.sleep(60)

    os.replace = hang  # type: ignore[assignment]
    DerivedCache(root).write(relpath, b"\xff\xd8" + b"x" * 5_000_000)


def test_a_crash_mid_write_never_leaves_a_served_file(app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path / "ct", seed=12, slices=2, size=64)
    with started(app, pool=None) as client:
        person, _ = patient_with_study(client, app, engine, paths)
        inst = instances_of(engine, series_of(engine, study_of(engine, person).id)[0].id)[0]
        runtime = app.state.previews
        spec = S.preview_spec(sha256=inst.sha256, frame=0, window="default", width=256, fmt="jpeg")
        ctx = multiprocessing.get_context("spawn")
        child = ctx.Process(target=_write_then_hang, args=(str(runtime.cache.root), spec.relpath))
        child.start()
        target, temps = Path(runtime.cache.root) / spec.relpath, Path(runtime.cache.root) / ".tmp"
        deadline = time.time() + 30
        while time.time() < deadline and not (temps.exists() and any(temps.glob("blob-*"))):
            time.sleep(0.05)
        child.kill()
        child.join()
        assert list(temps.glob("blob-*")), "the writer never started"
        assert not target.exists()  # the half-done file is only ever a temp file
        r = client.get(f"/api/v1/people/{person}/previews/{inst.id}/0/default/256.jpg")
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).width == 64
        assert target.read_bytes() == r.content
        assert runtime.cache.sweep_temp(older_than_s=0) == 1
        # a file cut short on disk (power loss before the data was flushed) is never served either
        target.write_bytes(target.read_bytes()[:100])
        assert runtime.cache.get(spec.relpath) is None and not target.exists()
        again = client.get(f"/api/v1/people/{person}/previews/{inst.id}/0/default/256.jpg")
        assert again.status_code == 200 and again.content == r.content


def test_pixel_limit_is_a_clear_4xx_or_a_placeholder(app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    from backend.rendering import Limits

    paths = write_ct_series(out_dir=tmp_path, seed=13, slices=2, size=64)
    with started(app, pool=None) as client:
        person, _ = patient_with_study(client, app, engine, paths)
        inst = instances_of(engine, series_of(engine, study_of(engine, person).id)[0].id)[0]
        app.state.previews.limits = Limits(max_pixels=1000, max_frame_pixels=1000)
        r = client.get(f"/api/v1/people/{person}/previews/{inst.id}/0/default/256.jpg")
        assert r.status_code == 422 and r.json()["type"].endswith("preview-limit-exceeded"), r.text
        assert "超过" in r.json()["message"]["zh"]
        thumb = client.get(f"/api/v1/people/{person}/previews/{inst.id}/0/default/128.jpg?placeholder=1")
        assert thumb.status_code == 200 and thumb.headers["x-preview-error"] == "limit_exceeded"


def test_the_dispatcher_thread_prerenders_on_its_own(app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path, seed=14, slices=6, size=64)
    with started(app, pool=1, dispatcher=True) as client:
        person, _ = patient_with_study(client, app, engine, paths)
        deadline = time.time() + 60
        while time.time() < deadline:
            if not _prerender_jobs(engine):
                break
            time.sleep(0.5)
        series = series_of(engine, study_of(engine, person).id)[0]
        middle = instances_of(engine, series.id)[3]
        thumb = S.preview_spec(sha256=middle.sha256, frame=0, window="default", width=128, fmt="jpeg")
        assert app.state.previews.cache.get(thumb.relpath) is not None


def test_render_processes_start_with_the_app_not_on_the_first_click(app: FastAPI) -> None:
    import multiprocessing

    with started(app, pool=2, dispatcher=True):
        deadline = time.time() + 60
        while time.time() < deadline:
            renderers = [p for p in multiprocessing.active_children() if p.name.startswith("yunying-render")]
            if len(renderers) == 2:
                break
            time.sleep(0.2)
        assert len(renderers) == 2  # both spawned and warm before any preview was asked for
