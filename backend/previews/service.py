"""Previews as a service: locate + authorize an instance (read-only), serve from cache or render.

No FastAPI here. The hot path of a cache hit is: one read-only transaction (principal, the access
policy `authorize_person`, one indexed join), a stat() of the cache file, and the file. Renders run
in the worker pool (pool.py) with the decode-time budget; results land in the cache.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select as sa_select  # sqlmodel's select types at most 4 columns
from sqlmodel import Session, col, select

from backend.access.principals import Principal, SharePrincipal
from backend.access.service import PersonAccess, authorize_person
from backend.errors import AppError, NotFound, ServiceUnavailable, Unprocessable
from backend.rendering import Limits, RenderError
from backend.storage.base import ObjectStore
from backend.storage.errors import StorageUnavailable
from backend.storage.keys import original_key
from backend.storage.service import open_store
from backend.studies.models import Instance, Series, Study

from . import decoded, jobs, streaks
from . import spec as S
from .cache import STORE_DOWN, DerivedCache, derived_beside
from .pool import INTERACTIVE, RenderPool

KIND = "imaging_study"  # the record kind previews belong to (PersonAccess.allows_kind)
BUSY_RETRY_S = 2  # a busy or restarted render worker: a render a moment later usually succeeds
RENDER_TIMEOUT_S = 10.0  # decode-time budget of one frame (setting candidate: YUNYING_RENDER_TIMEOUT_S)
POOL_SIZE = max(1, min(2, os.cpu_count() or 1))  # setting candidate: YUNYING_RENDER_WORKERS
CHUNK = 16  # frames per pre-render job: small enough that a click waits behind at most one chunk
MAX_SCRUB_FRAMES = 3000


@dataclass
class Runtime:
    """Per-app previews state (app.state.previews): the cache, the pool, the limits."""

    cache: DerivedCache
    blobs: ObjectStore
    pool: RenderPool | None
    limits: Limits
    misses: streaks.MissStreaks = field(default_factory=streaks.MissStreaks)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def run(self, fn: Callable[..., Any], *args: Any, priority: int = INTERACTIVE,
            timeout: float | None = None, direct: bool = False) -> Future[Any]:
        """`direct`: the caller waits for this one job at once; an idle worker runs it from this thread
        (RenderPool.submit)."""
        if self.pool is None:  # no pool (CLI, some tests): render inline, no time budget
            future: Future[Any] = Future()
            try:
                future.set_result(fn(*args))
            except Exception as exc:  # noqa: BLE001 - delivered through the future like the pool does
                future.set_exception(exc)
            return future
        return self.pool.submit(fn, *args, priority=priority, timeout=timeout, direct=direct)


def make_runtime(*, data_dir: Path, blobs: ObjectStore, max_pixels: int, pool_size: int | None = POOL_SIZE,
                 timeout: float = RENDER_TIMEOUT_S) -> Runtime:
    pool = RenderPool(size=pool_size, timeout=timeout) if pool_size else None
    # The derived area next to the originals' area of the same store (storage/service.py); data_dir is
    # kept for the callers' sake: nothing is read or written there any more.
    return Runtime(cache=DerivedCache(derived_beside(blobs)), blobs=blobs, pool=pool,
                   limits=Limits(max_pixels=max_pixels))


def runtime_for(state: Any) -> Runtime:
    """The app's runtime (made at start-up by worker.install); an app used without its start-up (a bare
    ASGI call in a script) gets one without a pool."""
    runtime: Runtime | None = getattr(state, "previews", None)
    if runtime is None:
        settings = state.settings
        runtime = make_runtime(data_dir=settings.data_dir, blobs=state.blobs, max_pixels=settings.max_pixels,
                               pool_size=None)
        state.previews = runtime
    return runtime


IMMUTABLE = "private, max-age=31536000, immutable"
NO_STORE = "no-store"


def cache_control(principal: Principal, *, default: str = IMMUTABLE) -> str:
    """How long a browser may keep an image: a doctor's share session keeps nothing (``no-store``) — the
    share ends or is withdrawn, and its images must not stay on a hospital computer's disk; everyone
    else gets ``default`` (content-addressed previews: a year, immutable). One rule for the preview route,
    the hot path and DICOMweb's rendered resources."""
    return NO_STORE if isinstance(principal, SharePrincipal) else default


def study_visible(access: PersonAccess, *, study_id: str, study_person_id: str | None) -> bool:
    """The study belongs to the person and the access covers imaging (and, for shares, this study)."""
    return (study_person_id == access.person_id and access.allows_kind(KIND)
            and (access.study_ids is None or study_id in access.study_ids)
            and study_id not in access.hidden_refs)  # hidden from this relative (issue 19 item 4)


def check_study(access: PersonAccess, study: Study | None) -> Study:
    """`study_visible`, or the same 404 as a missing id (DESIGN.md rule 1)."""
    if study is None or not study_visible(access, study_id=study.id, study_person_id=study.person_id):
        raise NotFound("No such image.", zh="未找到该影像", code="preview-not-found")
    return study


def person_instance(*, session: Session, principal: Principal, person_id: str,
                    instance_id: str) -> tuple[PersonAccess, Instance, Study]:
    access = authorize_person(session=session, principal=principal, person_id=person_id)
    row = session.exec(select(Instance, Study).join(Study, col(Instance.study_id) == col(Study.id))
                       .where(col(Instance.id) == instance_id)).first()
    if row is None:
        raise NotFound("No such image.", zh="未找到该影像", code="preview-not-found")
    return access, row[0], check_study(access, row[1])


def person_series(*, session: Session, principal: Principal, person_id: str,
                  series_id: str) -> tuple[PersonAccess, Series, Study]:
    access = authorize_person(session=session, principal=principal, person_id=person_id)
    row = session.exec(select(Series, Study).join(Study, col(Series.study_id) == col(Study.id))
                       .where(col(Series.id) == series_id)).first()
    if row is None:
        raise NotFound("No such series.", zh="未找到该序列", code="series-not-found")
    return access, row[0], check_study(access, row[1])


def instance_ref(blobs: ObjectStore, instance: Instance) -> jobs.InstanceRef:
    return _ref(blobs, blob_key=instance.blob_key, sha256=instance.sha256, ts=instance.transfer_syntax_uid,
                offset=instance.pixel_data_offset, encapsulated=instance.pixel_encapsulated,
                fragments=instance.pixel_fragments)


def _ref(blobs: ObjectStore, *, blob_key: str, sha256: str, ts: str, offset: int | None, encapsulated: bool,
         fragments: list[list[int]] | None) -> jobs.InstanceRef:
    return jobs.InstanceRef(store=blobs.locator, key=blob_key, sha256=sha256, transfer_syntax_uid=ts,
                            pixel_data_offset=offset, encapsulated=bool(encapsulated),
                            fragments=tuple((int(o), int(n)) for o, n in fragments or ()) or None)


@dataclass(frozen=True, slots=True)
class Facts:
    """What serving a frame of an instance needs, from its index rows (the hot path caches it)."""

    instance_id: str
    series_id: str
    study_id: str
    study_person_id: str | None
    sha256: str
    frames: int
    has_pixels: bool
    inline: bool  # native pixels small enough to render on the web process's threads (fastpath.py)
    ref: jobs.InstanceRef
    # compressed pixels small enough to render on those threads from a frame decoded earlier (decoded.py)
    packed: bool = False


_FACT_COLUMNS: tuple[Any, ...] = (Instance.id, Instance.series_id, Instance.study_id, Study.person_id, Instance.sha256,
                 Instance.frames, Instance.rows, Instance.columns, Instance.transfer_syntax_uid,
                 Instance.pixel_data_offset, Instance.pixel_encapsulated, Instance.pixel_fragments)


def series_facts(*, session: Session, blobs: ObjectStore, instance_id: str,
                 inline_max_pixels: int) -> list[Facts]:
    """`person_instance`'s lookup as plain columns, for the asked instance AND the rest of its series
    (one query: a viewer that asks for one slice asks for its neighbours next; a miss per slice cost a
    query per image). Empty when the instance does not exist. Who may see them is decided by the
    caller with `authorize_person` + `study_visible`, per instance."""
    query = sa_select(*_FACT_COLUMNS).join(Study, col(Instance.study_id) == col(Study.id))
    series = sa_select(col(Instance.series_id)).where(col(Instance.id) == instance_id).scalar_subquery()
    rows = list(session.execute(query.where(col(Instance.series_id) == series).limit(MAX_SCRUB_FRAMES)).all())
    if not any(row[0] == instance_id for row in rows):  # a series beyond the limit: the asked one alone
        rows = list(session.execute(query.where(col(Instance.id) == instance_id)).all())
    return [_facts(row, blobs=blobs, inline_max_pixels=inline_max_pixels) for row in rows]


def _facts(row: Any, *, blobs: ObjectStore, inline_max_pixels: int) -> Facts:
    (iid, series_id, study_id, person_id, sha256, frames, rows, columns, ts, offset, encapsulated, fragments) = row
    ref = _ref(blobs, blob_key=original_key(sha256), sha256=sha256, ts=ts, offset=offset, encapsulated=encapsulated,
               fragments=fragments)
    small = (rows or 0) * (columns or 0) <= inline_max_pixels
    return Facts(instance_id=iid, series_id=series_id, study_id=study_id, study_person_id=person_id, sha256=sha256,
                 frames=frames or 1, has_pixels=rows is not None, ref=ref,
                 inline=jobs.raw_ok(ref) and small,
                 packed=bool(encapsulated) and decoded.enabled() and small)


def check_frame(instance: Instance, frame: int) -> None:
    if not 0 <= frame < (instance.frames or 1) or instance.rows is None:
        raise NotFound("No such frame.", zh="未找到该帧", code="frame-not-found")


# -- rendering --------------------------------------------------------------------------------------
def problem(*, reason: str, en: str, zh: str) -> AppError:
    """A render failure as a clear 4xx (5xx only when the service, not the file, is at fault)."""
    if reason == STORE_DOWN:
        return StorageUnavailable()
    if reason == "frame_out_of_range":
        return NotFound(en, code="frame-not-found", zh=zh)
    if reason in ("worker_crashed", "render_busy"):  # the service, not the file: retry shortly
        error = ServiceUnavailable(en, code=f"preview-{reason.replace('_', '-')}", zh=zh)
        error.headers = {"Retry-After": str(BUSY_RETRY_S)}
        return error
    return Unprocessable(en, code=f"preview-{reason.replace('_', '-')}", zh=zh, reason=reason)


def cached_image(runtime: Runtime, spec: S.PreviewSpec, *, series_id: str, ref: jobs.InstanceRef, renders_here: bool,
                 read: Callable[[], bytes | None], max_bytes: int | None = None) -> bytes | None:
    """``read()``, the cache lookup of ``spec``'s image. On a network store, while this series' previews in
    the same window and size keep missing (streaks.py), and only when the render will run in this process
    (``renders_here``: a render worker is another process) from native pixels (bounded, no decoder): the
    node's own copy alone is read, else the original is fetched beside the lookup."""
    if runtime.cache.local:
        return read()
    here = renders_here and jobs.raw_ok(ref)
    cache = runtime.cache
    near = partial(cache.read_near, spec.relpath, max_bytes=max_bytes) if here and cache.near else None
    # the store the render reads through (jobs.py): the same object, so the same memo of originals
    prefetch = partial(open_store(ref.store).prefetch, key=ref.key) if here else None
    return streaks.look_up(runtime.misses, group=(series_id, spec.window, spec.width, spec.fmt, spec.quality),
                           read=read, read_near=near, prefetch=prefetch)


def cached_error(runtime: Runtime, spec: S.PreviewSpec) -> dict[str, Any] | None:
    return runtime.cache.get_error(spec.relpath)


def render_preview(runtime: Runtime, ref: jobs.InstanceRef, spec: S.PreviewSpec) -> bytes:
    """Render now (interactive priority) and wait; raises RenderError with the reason."""
    future = runtime.run(jobs.render_preview, ref, spec.frame, spec.window, spec.width, spec.fmt, spec.quality,
                         str(runtime.cache.root), runtime.limits, direct=True)
    try:
        data: bytes = wait(future, RENDER_TIMEOUT_S)
    except RenderError as exc:
        if exc.reason == STORE_DOWN:  # a 503, never a placeholder or a remembered failure
            raise StorageUnavailable() from None
        if exc.reason == "render_timeout":  # the worker was killed before it could note the failure
            runtime.cache.write_error(spec.relpath, {"reason": exc.reason, "en": exc.message_en,
                                                     "zh": exc.message_zh})
        raise
    return data


def wait(future: Future[Any], budget: float) -> Any:
    """A job's result; the job's own budget runs in the worker, this bounds the wait in the queue
    (behind other interactive jobs) so that a saturated pool answers 503, never hangs a request."""
    try:
        return future.result(timeout=budget * 6 + 30)
    except FutureTimeout:
        future.cancel()
        raise ServiceUnavailable("previews are busy, try again shortly", code="preview-busy",
                                 zh="预览服务繁忙，请稍后重试") from None


# -- series: members, scrub strips --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Member:
    instance: Instance

    @property
    def frames(self) -> int:
        return max(1, self.instance.frames or 1)


def _image_members(series_id: str) -> tuple[Any, ...]:
    return (col(Instance.series_id) == series_id, col(Instance.rows).is_not(None), col(Instance.kind) == "image")


# Display order: Instance Number, then slice position, then arrival.
_DISPLAY_ORDER = (col(Instance.instance_number), col(Instance.slice_location).desc(), col(Instance.received_at),
                  col(Instance.id))


def series_members(session: Session, series_id: str) -> list[Member]:
    """Image instances of a series in display order (Instance Number, then arrival)."""
    rows = session.exec(select(Instance).where(*_image_members(series_id)).order_by(*_DISPLAY_ORDER)).all()
    return [Member(instance=i) for i in rows]


@dataclass(frozen=True, slots=True)
class FrameRef:
    """What a preview URL names of an instance (urls.py), and its frame count."""

    id: str
    sha256: str
    frames: int


def series_frame_refs(session: Session, series_id: str) -> list[FrameRef]:
    """`series_members` in the same order, three columns only: the study detail lists a 300-slice CT's
    count and middle frame, and loading 300 whole ORM rows for that was most of its CPU (issue 18)."""
    rows = session.exec(select(Instance.id, Instance.sha256, Instance.frames)
                        .where(*_image_members(series_id)).order_by(*_DISPLAY_ORDER)).all()
    return [FrameRef(id=i, sha256=sha, frames=max(1, frames or 1)) for i, sha, frames in rows]


def series_look(session: Session, instance_id: str) -> tuple[str | None, str | None]:
    """An instance's photometric interpretation and SOP class: which windows its series offers."""
    row = session.exec(select(Instance.photometric_interpretation, Instance.sop_class_uid)
                       .where(col(Instance.id) == instance_id)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def scrub_key_of_refs(refs: list[FrameRef], window: str) -> str:
    """`scrub_key` from the three columns of `series_frame_refs` (the same sha256 and frame count)."""
    return S.scrub_key(members=[(r.sha256, r.frames) for r in refs], window=window, tile_width=S.SCRUB_WIDTH)


def frame_list(members: list[Member]) -> list[tuple[Instance, int]]:
    return [(m.instance, f) for m in members for f in range(m.frames)]


def middle(members: list[Member]) -> tuple[Instance, int] | None:
    frames = frame_list(members)
    return frames[len(frames) // 2] if frames else None


def scrub_key(members: list[Member], window: str) -> str:
    return S.scrub_key(members=[(m.instance.sha256, m.frames) for m in members], window=window,
                       tile_width=S.SCRUB_WIDTH)


def scrub_layout(runtime: Runtime, key: str) -> dict[str, Any] | None:
    data = runtime.cache.get(S.scrub_relpath(key, "layout.json"))
    if data is None:
        return None
    value: dict[str, Any] = json.loads(data)
    return value


def build_series(runtime: Runtime, members: list[Member], *, window: str = S.DEFAULT_WINDOW,
                 priority: int = INTERACTIVE, previews: list[tuple[int | None, S.Fmt]] | None = None) -> dict[str, Any]:
    """Render the series' frames in chunks on every worker (plus `previews` outputs), then pack the
    scrub strips. Returns the layout (also on disk under the series' content key)."""
    frames = frame_list(members)
    if not frames:
        raise NotFound("This series has no images.", zh="该序列没有图像", code="series-no-images")
    if len(frames) > MAX_SCRUB_FRAMES:
        raise Unprocessable(f"series of {len(frames)} frames exceeds the scrub limit of {MAX_SCRUB_FRAMES}",
                            code="preview-limit-exceeded", zh="序列帧数超过上限")
    key = scrub_key(members, window)
    refs: dict[str, jobs.InstanceRef] = {}
    items = []
    for instance, f in frames:
        if instance.id not in refs:
            refs[instance.id] = instance_ref(runtime.blobs, instance)
        items.append((refs[instance.id], f))
    root = str(runtime.cache.root)
    budget = RENDER_TIMEOUT_S * CHUNK
    futures = [runtime.run(jobs.render_series_chunk, items[i:i + CHUNK], window, previews or [], S.SCRUB_WIDTH,
                           root, runtime.limits, priority=priority, timeout=budget)
               for i in range(0, len(items), CHUNK)]
    tiles: list[Any] = []
    for n, future in enumerate(futures):
        try:
            tiles.extend(wait(future, budget))
        except RenderError:  # the whole chunk timed out / crashed: its frames show black in the strip
            tiles.extend([None] * len(items[n * CHUNK:(n + 1) * CHUNK]))
    layout: dict[str, Any] = wait(runtime.run(jobs.pack_series_strips, tiles, key, root, priority=priority,
                                              timeout=budget), budget)
    return layout
