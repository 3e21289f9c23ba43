"""The preview hot path (imaging/previews/fastpath.py): same answers as the route, the policy's
decisions reused only while the access epoch stands, revocation on the very next image."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from backend.access.models import AuditEvent
from backend.auth.models import AuthSession, Binding
from backend.clock import utcnow
from backend.config import Settings
from backend.db import session_scope
from backend.family import rules
from backend.previews import service, views
from backend.previews import spec as S
from tests.family import helpers as h
from tests.previews.helpers import instances_of, series_of, started, study_of, upload
from tests.records.helpers import hospital, register
from tools.synthetic import write_ct_series

RID = "320106196203150013"


@pytest.fixture(autouse=True)
def _fresh_memo() -> None:
    views.forget()


def _world(client: httpx.Client, engine: Engine, tmp_path: Path) -> tuple[str, list[str]]:
    """A 3-slice CT of 张伟 over STOW-RS; returns (person id, the slices' 512 preview paths)."""
    _, key = hospital(engine, "南京市第一医院")
    upload(client, key, write_ct_series(out_dir=tmp_path / "ct", seed=7, slices=3, size=64))
    person = register(client, key, "NJ0001234", RID, "张伟")
    series = series_of(engine, study_of(engine, person).id)[0]
    urls = [f"/api/v1/people/{person}/previews/{i.id}/0/default/512.jpg?v={S.content_tag(i.sha256)}"
            for i in instances_of(engine, series.id)]
    return person, urls


def _relative(engine: Engine, settings: Settings, person: str, openid: str, **grant: Any) -> tuple[str, dict[str, str]]:
    """A relative's account with a family grant on `person`: (grant id, the relative's cookie headers)."""
    account = h.account(engine, openid)
    grant_id = h.grant(engine, person_id=person, account_id=account, **grant)
    return grant_id, h.cookie_headers(engine, settings, account)


class _Counter:
    """Counts runs of the access policy by the preview code (route and hot path)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = service.authorize_person

        def counted(**kwargs: Any) -> Any:
            self.calls += 1
            return real(**kwargs)

        monkeypatch.setattr(service, "authorize_person", counted)


def test_a_hit_is_the_routes_answer_without_running_the_policy_again(
        app: FastAPI, engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with started(app, pool=None) as client:
        person, urls = _world(client, engine, tmp_path)
        owner = h.cookie_headers(engine, settings, h.account(engine, "o-owner", bind_to=person))
        counter = _Counter(monkeypatch)
        first = client.get(urls[0], headers=owner)
        assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
        assert counter.calls == 1
        again = client.get(urls[0], headers=owner)
        assert again.status_code == 200 and again.content == first.content
        assert counter.calls == 1  # served from the cached decision and the cached file
        lookups: list[str] = []
        real_facts = service.series_facts
        monkeypatch.setattr(service, "series_facts", lambda **kw: lookups.append(kw["instance_id"]) or real_facts(**kw))
        assert [client.get(u, headers=owner).status_code for u in urls[1:]] == [200, 200]
        assert lookups == []  # the first image brought the facts of its whole series
        for name in ("etag", "cache-control", "x-content-type-options", "x-request-id", "content-length"):
            assert again.headers.get(name), name
        assert again.headers["cache-control"] == "private, max-age=31536000, immutable"
        # the ordinary route (an unknown query parameter sends it there) answers the same bytes and tags
        routed = client.get(urls[0] + "&unknown=1", headers=owner)
        assert counter.calls == 2
        assert routed.content == first.content and routed.headers["etag"] == first.headers["etag"]
        not_modified = client.get(urls[0], headers={**owner, "If-None-Match": first.headers["etag"]})
        assert not_modified.status_code == 304 and not_modified.headers["etag"] == first.headers["etag"]
        # another person's image through one's own person id: the route's 404 (problem+json)
        stranger = h.account(engine, "o-stranger")
        other = client.get(urls[0], headers=h.cookie_headers(engine, settings, stranger))
        assert other.status_code == 404 and other.headers["content-type"] == "application/problem+json"


def test_revocation_acts_on_the_very_next_image(app: FastAPI, engine: Engine, settings: Settings,
                                                tmp_path: Path) -> None:
    with started(app, pool=None) as client:
        person, urls = _world(client, engine, tmp_path)
        owner = h.cookie_headers(engine, settings, h.account(engine, "o-owner", bind_to=person))
        grant_id, daughter = _relative(engine, settings, person, "o-daughter")
        assert [client.get(u, headers=daughter).status_code for u in urls + urls] == [200] * 6
        assert client.delete(f"/api/v1/grants/{grant_id}", headers=owner).status_code == 204
        assert client.get(urls[0], headers=daughter).status_code == 404

        # the owner's own session ends (logout, an admin, reuse detection): the next image is refused
        assert client.get(urls[1], headers=owner).status_code == 200
        with session_scope(engine) as s:
            for row in s.exec(select(AuthSession)).all():
                row.revoked_at = utcnow()
                s.add(row)
        assert client.get(urls[1], headers=owner).status_code == 404


def test_unbinding_and_time_end_cached_decisions(app: FastAPI, engine: Engine, settings: Settings,
                                                 tmp_path: Path) -> None:
    with started(app, pool=None) as client:
        person, urls = _world(client, engine, tmp_path)
        _, son = _relative(engine, settings, person, "o-son", expires_at=utcnow() + timedelta(days=1))
        assert client.get(urls[2], headers=son).status_code == 200
        with rules.travel(utcnow() + timedelta(days=2)):  # the grant's end, seconds after a cached yes
            assert client.get(urls[2], headers=son).status_code == 404
        assert client.get(urls[2], headers=son).status_code == 200

        owner_id = h.account(engine, "o-owner", bind_to=person)
        owner = h.cookie_headers(engine, settings, owner_id)
        assert client.get(urls[2], headers=owner).status_code == 200
        with session_scope(engine) as s:
            binding = s.exec(select(Binding).where(col(Binding.account_id) == owner_id)).one()
            binding.revoked_at = utcnow()
            s.add(binding)
        assert client.get(urls[2], headers=owner).status_code == 404


def test_every_view_is_audited_once_per_series_and_hour(app: FastAPI, engine: Engine, settings: Settings,
                                                        tmp_path: Path) -> None:
    with started(app, pool=None) as client:
        person, urls = _world(client, engine, tmp_path)
        owner = h.cookie_headers(engine, settings, h.account(engine, "o-owner", bind_to=person))
        _, daughter = _relative(engine, settings, person, "o-daughter")
        for _ in range(3):
            for u in urls:
                assert client.get(u, headers=owner).status_code == 200
                assert client.get(u, headers=daughter).status_code == 200
        with session_scope(engine, readonly=True) as s:
            views_by_actor = s.exec(select(AuditEvent.actor_id, func.count()).where(
                col(AuditEvent.event_type) == views.EVENT).group_by(col(AuditEvent.actor_id))).all()
        assert sorted(n for _, n in views_by_actor) == [1, 1]  # one series, two readers


def test_cold_native_frames_render_inline_with_the_pools_bytes(app: FastAPI, engine: Engine, settings: Settings,
                                                               tmp_path: Path) -> None:
    with started(app, pool=1) as client:
        person, urls = _world(client, engine, tmp_path)
        owner = h.cookie_headers(engine, settings, h.account(engine, "o-owner", bind_to=person))
        runtime = app.state.previews
        submitted: list[Any] = []
        real_submit = runtime.pool.submit
        runtime.pool.submit = lambda *a, **k: submitted.append(a) or real_submit(*a, **k)
        url = urls[1].replace("/default/512.jpg", "/c40w400/256.webp")
        inline = client.get(url, headers=owner)
        assert inline.status_code == 200 and inline.headers["content-type"] == "image/webp"
        assert submitted == []  # rendered on the web process's thread, not in the pool
        for f in Path(runtime.cache.root).rglob("*-c40w400-256-*"):
            f.unlink()
        pooled = client.get(url + "&unknown=1", headers=owner)  # the route renders through the pool
        assert pooled.status_code == 200 and len(submitted) == 1
        assert pooled.content == inline.content
