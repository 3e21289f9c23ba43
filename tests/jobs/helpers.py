"""A hospital, a patient bound to the demo WeChat account, STOW-RS uploads, and what the previews of a
series should be (an uninterrupted in-process run of the same job, into a cache of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.auth.demo import seed_wechat
from backend.config import Settings
from backend.db import session_scope
from backend.institutions.service import create_institution
from backend.jobs import service as outbox
from backend.previews import service as previews
from backend.previews import spec as S
from backend.previews.cache import DerivedCache
from backend.previews.worker import prerender_series
from backend.rendering import Limits
from backend.studies.models import Series
from tests.ingest.test_stow import content_type, multipart_body


def hospital_and_patient(settings: Settings, engine: Engine, url: str) -> dict[str, str]:
    """Authorization headers of a new hospital whose patient NJ0001234 is 张伟, bound to `demo-patient`."""
    seed_wechat(settings=settings, engine=engine)
    with session_scope(engine) as session:
        key = create_institution(session=session, name="南京市第一医院").api_key
    auth = {"Authorization": f"Bearer {key}"}
    r = httpx.put(f"{url}/api/v1/institution/patients/NJ0001234", headers=auth, timeout=30,
                  json={"resident_id": "320106196203150013", "name": "张伟"})
    assert r.status_code in (200, 201), r.text
    return auth


def stow(url: str, auth: dict[str, str], paths: list[Path], timeout: float = 120) -> None:
    r = httpx.post(f"{url}/dicomweb/studies", content=multipart_body(p.read_bytes() for p in paths),
                   headers={**auth, "Content-Type": content_type()}, timeout=timeout)
    assert r.status_code == 200, r.text


def templates(url: str) -> list[dict[str, Any]]:
    inbox: list[dict[str, Any]] = httpx.get(f"{url}/_sim/wechat/inbox", params={"kind": "template"}).json()
    return inbox


def series_ids(engine: Engine) -> list[str]:
    with session_scope(engine, readonly=True) as session:
        return list(session.exec(select(Series.id).order_by(col(Series.id))).all())


def expected_files(engine: Engine, series_id: str) -> list[str]:
    """Cache paths pre-rendering must leave: the thumbnail, every frame's 512 preview, the strip layout."""
    with session_scope(engine, readonly=True) as session:
        members = previews.series_members(session, series_id)
    centre = previews.middle(members)
    assert centre is not None
    instance, frame = centre
    files = [S.preview_spec(sha256=instance.sha256, frame=frame, window=S.DEFAULT_WINDOW, width=S.THUMB_WIDTH,
                            fmt="jpeg").relpath]
    files += [S.preview_spec(sha256=m.instance.sha256, frame=f, window=S.DEFAULT_WINDOW, width=S.DEFAULT_WIDTH,
                             fmt="jpeg").relpath for m in members for f in range(m.frames)]
    key = previews.scrub_key(members, S.DEFAULT_WINDOW)
    files.append(S.scrub_relpath(key, "layout.json"))
    return files


def present(cache: DerivedCache, files: list[str]) -> int:
    """How many of `files` exist, complete (read and checked: DerivedCache.get)."""
    return sum(cache.get(rel) is not None for rel in files)


def started(cache: DerivedCache, files: list[str]) -> bool:
    """Any of `files` written yet (a cheap existence check, for polling fast)."""
    return any(cache.exists(rel) for rel in files)


def reference_render(settings: Settings, engine: Engine, series_id: str, root: Path) -> DerivedCache:
    """The same job, uninterrupted and in this process, into `root`."""
    runtime = previews.Runtime(cache=DerivedCache(root), blobs=settings.storage.originals,
                               pool=None, limits=Limits(max_pixels=settings.max_pixels))
    prerender_series(engine=engine, runtime=runtime, series_id=series_id)
    return runtime.cache


def outbox_kinds(engine: Engine) -> list[str]:
    with session_scope(engine, readonly=True) as session:
        return sorted(row.kind for row in outbox.waiting(session))
