"""Pre-rendering: when a study arrives, its series' thumbnails, scrub strips and default-window
512 previews are rendered in the background, so that a patient's first open is a cache hit.

* `enqueue_studies` (called by ingest inside its index transaction) writes one outbox row per series
  of the studies that grew (backend/jobs): the job exists if and only if the instances committed.
  Rows wait DEBOUNCE after the last enqueue, so a study arriving in many STOW batches is rendered once.
* `prerender_series` is the job (backend/jobs/runners.py runs it): on a web node through its render
  pool at BACKGROUND priority (interactive requests go first), in a Celery worker inline in the
  worker's child process (under the task's hard time limit). Its outputs are content-addressed and
  written atomically, and it skips what exists: running it twice is harmless.
* `install` makes the app's previews runtime (cache + render pool for interactive renders).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.db import session_scope
from backend.jobs import service as outbox
from backend.rendering import RenderError
from backend.studies.models import Series

from . import jobs, service
from . import spec as S
from .pool import BACKGROUND

log = logging.getLogger("yunying.previews")

DEBOUNCE = timedelta(seconds=3)
_series: Table = Series.__table__  # type: ignore[attr-defined]
# Built once, on the table (Core): ingest runs it in every batch's transaction.
_SERIES_OF = select(_series.c.id).where(_series.c.study_id.in_(bindparam("studies", expanding=True)))


def enqueue_studies(*, session: Session, study_ids: Iterable[str]) -> int:
    """Queue every series of these studies for pre-rendering, in the caller's transaction. Returns how many."""
    ids = list(study_ids)
    if not ids:
        return 0
    series_ids = list(session.connection().execute(_SERIES_OF, {"studies": ids}).scalars())
    outbox.enqueue_many(session, kind=outbox.PRERENDER, keys=series_ids, delay=DEBOUNCE)
    return len(series_ids)


def prerender_series(*, engine: Engine, runtime: service.Runtime, series_id: str) -> None:
    with session_scope(engine, readonly=True) as session:
        members = service.series_members(session, series_id)
    if not members:
        return
    centre = service.middle(members)
    if centre is not None:
        instance, frame = centre
        thumb = S.preview_spec(sha256=instance.sha256, frame=frame, window=S.DEFAULT_WINDOW, width=S.THUMB_WIDTH,
                               fmt="jpeg")
        if runtime.cache.get(thumb.relpath) is None:
            future = runtime.run(jobs.render_preview, service.instance_ref(runtime.blobs, instance), frame,
                                 thumb.window, thumb.width, thumb.fmt, thumb.quality, str(runtime.cache.root),
                                 runtime.limits, priority=BACKGROUND)
            with contextlib.suppress(RenderError):  # noted next to the image; the thumbnail URL shows a placeholder
                service.wait(future, service.RENDER_TIMEOUT_S)
    key = service.scrub_key(members, S.DEFAULT_WINDOW)
    if service.scrub_layout(runtime, key) is None:
        service.build_series(runtime, members, priority=BACKGROUND, previews=[(S.DEFAULT_WIDTH, "jpeg")])


def install(app: FastAPI) -> None:
    """Create the runtime (cache + worker pool) with the app; stop the pool on shutdown. Whether this
    node pre-renders is the jobs runner's business (backend/jobs/relay.py)."""

    def start() -> None:
        settings = app.state.settings
        runtime = service.make_runtime(data_dir=settings.data_dir, blobs=app.state.blobs,
                                       max_pixels=settings.max_pixels,
                                       pool_size=getattr(app.state, "preview_pool_size", service.POOL_SIZE),
                                       timeout=getattr(app.state, "preview_timeout", service.RENDER_TIMEOUT_S))
        app.state.previews = runtime
        # Off under YUNYING_ENV=test unless a test asks for it (`preview_dispatcher`, which also switches
        # this node's pre-rendering lane on): other domains' tests must not get render processes
        # competing for the CPU behind their back.
        if getattr(app.state, "preview_dispatcher", settings.env != "test") and runtime.pool is not None:
            # start the render processes now, not on a patient's first click
            for _ in range(runtime.pool.size):
                runtime.pool.submit(jobs.warm, priority=BACKGROUND)
            runtime.cache.sweep_temp()

    def shutdown() -> None:
        runtime = getattr(app.state, "previews", None)
        if runtime is not None:
            runtime.close()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(shutdown)
