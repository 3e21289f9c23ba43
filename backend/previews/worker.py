"""Pre-rendering: when a study arrives, its series' thumbnails, scrub strips and default-window
512 previews are rendered in the background, so that a patient's first open is a cache hit.

* `enqueue_studies` (called by ingest after its index transaction committed) upserts one row per
  series into `preview_pending` and wakes the dispatchers of this process. It never renders and
  never raises into ingest.
* A dispatcher thread per web process claims due rows with a lease (`claimed_until`) so several
  processes share the queue without rendering a series twice, renders through the shared worker
  pool at BACKGROUND priority (interactive requests go first), and deletes the row only if no newer
  instances arrived meanwhile (`generation`). Rows survive restarts; a crash leaves the lease to
  expire and the series is picked up again. Rows wait DEBOUNCE_S after the last enqueue so a study
  arriving in many STOW batches is rendered once, not once per batch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, or_, select

from backend.clock import utcnow
from backend.db import session_scope
from backend.rendering import RenderError
from backend.studies.models import Series

from . import jobs, service
from . import spec as S
from .models import PreviewPending
from .pool import BACKGROUND

log = logging.getLogger("yunying.previews")

DEBOUNCE_S = 3.0
LEASE = timedelta(minutes=15)
MAX_ATTEMPTS = 3
_wake: set[threading.Event] = set()


def enqueue_studies(*, engine: Engine, study_ids: Iterable[str]) -> None:
    """Queue every series of these studies for pre-rendering (idempotent; bumps the generation)."""
    ids = list(study_ids)
    if not ids:
        return
    try:
        with session_scope(engine) as session:
            series_ids = session.exec(select(Series.id).where(col(Series.study_id).in_(ids))).all()
            enqueue_series(session=session, series_ids=list(series_ids))
    except Exception:  # pre-rendering is an optimisation: never fail ingest for it
        log.exception("could not queue pre-rendering for %d studies", len(ids))
        return
    for event in list(_wake):
        event.set()


def enqueue_series(*, session: object, series_ids: list[str]) -> None:
    from sqlmodel import Session

    assert isinstance(session, Session)
    now = utcnow()
    for series_id in series_ids:
        updated = session.execute(
            update(PreviewPending).where(col(PreviewPending.series_id) == series_id)
            .values(generation=PreviewPending.generation + 1, enqueued_at=now, attempts=0)
        )
        if getattr(updated, "rowcount", 0) == 0:
            try:
                with session.begin_nested():
                    session.add(PreviewPending(series_id=series_id, enqueued_at=now))
            except IntegrityError:
                pass  # another process queued it at the same moment: same outcome


def _claim(engine: Engine) -> tuple[str, int] | None:
    now = utcnow()
    with session_scope(engine) as session:
        rows = session.exec(
            select(PreviewPending).where(
                col(PreviewPending.enqueued_at) <= now - timedelta(seconds=DEBOUNCE_S),
                or_(col(PreviewPending.claimed_until).is_(None), col(PreviewPending.claimed_until) < now),
            ).order_by(col(PreviewPending.enqueued_at)).limit(5)
        ).all()
        for row in rows:
            claimed = session.execute(
                update(PreviewPending).where(
                    col(PreviewPending.series_id) == row.series_id, col(PreviewPending.generation) == row.generation,
                    or_(col(PreviewPending.claimed_until).is_(None), col(PreviewPending.claimed_until) < now))
                .values(claimed_until=now + LEASE, attempts=PreviewPending.attempts + 1)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                return row.series_id, row.generation
    return None


def _finish(engine: Engine, series_id: str, generation: int, *, ok: bool) -> None:
    with session_scope(engine) as session:
        row = session.get(PreviewPending, series_id)
        if row is None:
            return
        if (ok and row.generation == generation) or row.attempts >= MAX_ATTEMPTS:
            session.exec(delete(PreviewPending).where(col(PreviewPending.series_id) == series_id))
        else:  # newer instances arrived, or a retry: let it be claimed again
            row.claimed_until = None
            session.add(row)


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
            from . import jobs

            future = runtime.run(jobs.render_preview, service.instance_ref(runtime.blobs, instance), frame,
                                 thumb.window, thumb.width, thumb.fmt, thumb.quality, str(runtime.cache.root),
                                 runtime.limits, priority=BACKGROUND)
            with contextlib.suppress(RenderError):  # noted next to the image; the thumbnail URL shows a placeholder
                service.wait(future, service.RENDER_TIMEOUT_S)
    key = service.scrub_key(members, S.DEFAULT_WINDOW)
    if service.scrub_layout(runtime, key) is None:
        service.build_series(runtime, members, priority=BACKGROUND, previews=[(S.DEFAULT_WIDTH, "jpeg")])


def run_pending(*, engine: Engine, runtime: service.Runtime, stop: threading.Event | None = None) -> int:
    """Render every due queued series; returns how many were processed (tests call this directly)."""
    done = 0
    while stop is None or not stop.is_set():
        claimed = _claim(engine)
        if claimed is None:
            return done
        series_id, generation = claimed
        ok = True
        try:
            prerender_series(engine=engine, runtime=runtime, series_id=series_id)
        except Exception:  # one bad series must not stop the queue
            log.exception("pre-rendering series %s failed", series_id)
            ok = False
        _finish(engine, series_id, generation, ok=ok)
        done += 1
    return done


def install(app: FastAPI) -> None:
    """Create the runtime (cache + worker pool) with the app; start the dispatcher; stop both on shutdown."""
    stop, wake = threading.Event(), threading.Event()

    def start() -> None:
        settings = app.state.settings
        runtime = service.make_runtime(data_dir=settings.data_dir, blobs=app.state.blobs,
                                       max_pixels=settings.max_pixels,
                                       pool_size=getattr(app.state, "preview_pool_size", service.POOL_SIZE),
                                       timeout=getattr(app.state, "preview_timeout", service.RENDER_TIMEOUT_S))
        app.state.previews = runtime
        # Off under YUNYING_ENV=test unless a test asks for it: other domains' tests upload studies and
        # must not get render processes competing for the CPU behind their back.
        if not getattr(app.state, "preview_dispatcher", settings.env != "test"):
            return
        _wake.add(wake)
        engine = app.state.engine
        if runtime.pool is not None:  # start the render processes now, not on a patient's first click
            for _ in range(runtime.pool.size):
                runtime.pool.submit(jobs.warm, priority=BACKGROUND)

        def loop() -> None:
            runtime.cache.sweep_temp()
            while not stop.is_set():
                try:
                    run_pending(engine=engine, runtime=runtime, stop=stop)
                except Exception:  # e.g. the database is briefly unavailable
                    log.exception("pre-render dispatcher error")
                wake.wait(timeout=DEBOUNCE_S + 0.5)
                wake.clear()

        threading.Thread(target=loop, name="yunying-prerender", daemon=True).start()

    def shutdown() -> None:
        stop.set()
        wake.set()
        _wake.discard(wake)
        runtime = getattr(app.state, "previews", None)
        if runtime is not None:
            runtime.close()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(shutdown)
