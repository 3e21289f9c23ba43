"""Previews over HTTP for the PWA: URLs from the study detail, content-addressed caching (ETag,
304, immutable), access (404 for anything not the person's), window presets, scrub strips."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.access.models import AuditEvent
from backend.db import session_scope
from backend.previews import views
from tests.previews.helpers import instances_of, patient_with_study, read_as, series_of, started, study_of
from tools.synthetic import write_chest_cr, write_ct_series

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def small_ct(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_ct_series(out_dir=tmp_path_factory.mktemp("ct"), seed=7, slices=12, size=128)


def _img(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_study_detail_urls_render_with_etag_304_and_immutable(app: FastAPI, engine: Engine,
                                                              small_ct: list[Path]) -> None:
    views.forget()
    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, small_ct)
        study = study_of(engine, person)
        detail = client.get(f"/api/v1/people/{person}/studies/{study.id}")
        assert detail.status_code == 200, detail.text
        previews = detail.json()["series"][0]["previews"]
        assert set(previews) >= {"thumbnail", "preview", "preview_webp", "scrub"}
        r = client.get(previews["preview"])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/jpeg"
        assert "immutable" in r.headers["cache-control"] and r.headers["cache-control"].startswith("private")
        etag = r.headers["etag"]
        assert etag.startswith('"') and len(etag) > 20
        image = _img(r.content)
        assert image.shape[1] == 128  # never upscaled beyond the 128-px original
        again = client.get(previews["preview"])  # now a cache hit: same bytes, same tag
        assert again.content == r.content and again.headers["etag"] == etag
        assert client.get(previews["preview"], headers={"If-None-Match": etag}).status_code == 304
        assert client.get(previews["preview"], headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
        assert client.get(previews["preview"], headers={"If-None-Match": "*"}).status_code == 304
        assert client.get(previews["preview"], headers={"If-None-Match": etag[:-2] + '"'}).status_code == 200
        webp = client.get(previews["preview_webp"])
        assert webp.headers["content-type"] == "image/webp" and webp.headers["etag"] != etag
        assert client.get(previews["thumbnail"]).status_code == 200
        # one series.view audit event for all of these requests (throttled per principal, series, hour)
        with session_scope(engine, readonly=True) as s:
            events = s.exec(select(AuditEvent).where(col(AuditEvent.event_type) == "series.view")).all()
        assert len(events) == 1 and events[0].person_id == person


def test_lung_and_bone_windows_differ_and_bad_params_are_4xx(app: FastAPI, engine: Engine,
                                                             small_ct: list[Path]) -> None:
    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, small_ct)
        inst = instances_of(engine, series_of(engine, study_of(engine, person).id)[0].id)[6]
        base = f"/api/v1/people/{person}/previews/{inst.id}/0"
        lung = _img(client.get(f"{base}/lung/512.jpg").content).astype(int)
        bone = _img(client.get(f"{base}/bone/512.jpg").content).astype(int)
        custom = client.get(f"{base}/c40w400/256.jpg")
        assert custom.status_code == 200
        # lung window shows the lungs (-850 HU) mid-grey, the bone window shows them black
        assert lung.mean() > bone.mean() + 20
        for bad in ("lung/500.jpg", "lung/512.png", "nope/512.jpg", "c40w0/512.jpg"):
            r = client.get(f"{base}/{bad}")
            assert r.status_code == 400, (bad, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert client.get(f"/api/v1/people/{person}/previews/{inst.id}/5/lung/512.jpg").status_code == 404


def test_other_persons_instance_and_no_access_are_404(app: FastAPI, engine: Engine, small_ct: list[Path],
                                                       tmp_path: Path) -> None:
    from tools.synthetic import SyntheticPatient

    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, small_ct)
        inst = instances_of(engine, series_of(engine, study_of(engine, person).id)[0].id)[0]
        url = f"/api/v1/people/{person}/previews/{inst.id}/0/default/128.jpg"
        assert client.get(url).status_code == 200
        other_paths = write_ct_series(out_dir=tmp_path / "other", seed=8, slices=2, size=64,
                                      patient=SyntheticPatient(name_zh="王芳", patient_id="P2", sex="F",
                                                               resident_id="320102198503120020"))
        other, _ = patient_with_study(client, app, engine, other_paths, local_id="P2",
                                      resident_id="320102198503120020", name="王芳", hospital_name="鼓楼医院")
        # now reading as the other person: the first person's instance under either id is 404
        assert client.get(url).status_code == 404
        assert client.get(url.replace(person, other)).status_code == 404
        read_as(app, engine, "0" * 32)  # an account bound to nobody real
        assert client.get(url).status_code == 404


def test_monochrome1_cr_renders_bone_white(app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    cr = write_chest_cr(out_dir=tmp_path, seed=3, rows=512, columns=512)
    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, [cr])
        inst = instances_of(engine, series_of(engine, study_of(engine, person).id)[0].id)[0]
        image = _img(client.get(f"/api/v1/people/{person}/previews/{inst.id}/0/default/256.jpg").content)
        h, w = image.shape
        spine = image[h // 3: 2 * h // 3, w // 2 - 4: w // 2 + 4].mean()
        lung = image[h // 3: 2 * h // 3, w // 4 - 8: w // 4 + 8].mean()
        assert spine > lung + 40, (spine, lung)  # mediastinum/spine bright, air-filled lung dark


def test_study_detail_names_the_scrub_answers_middle_frame_and_count(app: FastAPI, engine: Engine,
                                                                    small_ct: list[Path]) -> None:
    """The detail reads three columns per series (urls.series_view) where it loaded every instance row
    twice: its count and its middle image must still be exactly the viewer's (the scrub answer's)."""
    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, small_ct)
        study = study_of(engine, person)
        series = client.get(f"/api/v1/people/{person}/studies/{study.id}").json()["series"][0]
        layout = client.get(series["previews"]["scrub"]).json()
        urls = layout["frame_urls"]
        assert series["image_count"] == len(urls) == 12
        middle = urls[len(urls) // 2]
        assert series["previews"]["preview"] == middle.format(window="default", width="512", ext="jpg")
        assert series["previews"]["preview_webp"] == middle.format(window="default", width="512", ext="webp")
        assert series["previews"]["thumbnail"] == middle.format(window="default", width="128", ext="jpg") \
            + "&placeholder=1"


def test_scrub_strips_cover_every_frame(app: FastAPI, engine: Engine, small_ct: list[Path]) -> None:
    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, small_ct)
        study = study_of(engine, person)
        scrub_url = client.get(f"/api/v1/people/{person}/studies/{study.id}").json()["series"][0]["previews"]["scrub"]
        r = client.get(scrub_url)
        assert r.status_code == 200, r.text
        layout = r.json()
        assert layout["frame_count"] == 12 and len(layout["frames"]) == 12 and len(layout["frame_urls"]) == 12
        assert layout["failed_frames"] == []
        cell = layout["cell"]
        seen = set()
        sheets = [_img(client.get(u).content) for u in layout["sheet_urls"]]
        for n, (sheet, x, y) in enumerate(layout["frames"]):
            assert (sheet, x, y) not in seen
            seen.add((sheet, x, y))
            tile = sheets[sheet][y: y + layout["tile"]["height"], x: x + layout["tile"]["width"]]
            assert tile.shape[:2] == (layout["tile"]["height"], layout["tile"]["width"])
            assert tile.mean() > 5, f"frame {n} is empty"
            assert x % cell["width"] == 0 and y % cell["height"] == 0
        first = layout["frame_urls"][0].format(window="bone", width="256", ext="webp")
        assert client.get(first).headers["content-type"] == "image/webp"
        assert client.get(scrub_url, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        # a sheet under another series' key or a made-up key is not served
        bad = layout["sheet_urls"][0].replace(layout["key"], "0" * 32)
        assert client.get(bad).status_code == 404
