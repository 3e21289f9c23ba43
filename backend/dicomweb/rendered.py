"""DICOMweb rendered resources (PS3.18 §9.5 / §10.4.1.1.3 "Rendered Resources", §10.4.1.1.4 thumbnails).

    GET /dicomweb/studies/{s}[/series/{se}[/instances/{i}[/frames/{f}]]]/rendered
    GET /dicomweb/studies/{s}[/series/{se}[/instances/{i}[/frames/{f}]]]/thumbnail

Query parameters (PS3.18 §8.3.5.1): `window=center,width[,function]`, `viewport=vw,vh` (the image is
fitted inside, never upscaled; a source region `sx,sy,sw,sh` is not supported: 400), `quality=1..100`,
`accept=` (overrides the Accept header). Media types: image/jpeg (default), image/webp.

One image answers an instance of one frame, a single frame, and every thumbnail; several frames
(a multi-frame instance, frame lists, a series or a study) answer multipart/related with one image
part per frame, in series and instance order, bounded by MAX_PARTS. Thumbnails of a study/series are
its representative (middle) frame and become a placeholder image when the frame cannot be rendered.

Who: the same principals and the same study visibility as the rest of DICOMweb
(`access.service.dicomweb_study_filter`). Reads are audited as `series.view`, throttled per hour
(see previews/views.py for why).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import Future
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from backend.access import audit
from backend.access.principals import Principal
from backend.access.service import dicomweb_study_filter
from backend.api.deps import DicomwebPrincipal, EngineDep, PreviewRuntimeDep
from backend.db import session_scope
from backend.dicomweb import wado
from backend.errors import BadRequest, NotAcceptable, PayloadTooLarge
from backend.previews import jobs, service, views
from backend.previews import spec as S
from backend.previews.placeholder import placeholder_jpeg
from backend.rendering import RenderError, window_from_query
from backend.studies.models import Instance, Series, Study

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])
MAX_PARTS = 1000
MAX_VIEWPORT = 2048
CACHE = "private, max-age=3600"  # URLs are not content-addressed here: revalidate with the ETag
Opt = Annotated[str | None, Query(max_length=200)]


def _media(accept_param: str | None, accept_header: str | None) -> S.Fmt:
    """PS3.18 §8.7.4: the `accept` query parameter wins over the header. q-values are not weighed:
    the first supported type listed wins; */* and image/* mean JPEG."""
    for raw in (accept_param, accept_header):
        if not raw:
            continue
        for item in raw.split(","):
            media = item.split(";")[0].strip().lower()
            if media in ("image/jpeg", "image/*", "*/*"):
                return "jpeg"
            if media == "image/webp":
                return "webp"
        raise NotAcceptable("rendered resources are available as image/jpeg or image/webp",
                            code="rendered-not-acceptable")
    return "jpeg"


def _frames(value: str) -> list[int]:
    try:
        frames = [int(x) for x in value.split(",")]
    except ValueError:
        raise BadRequest("frame numbers must be a comma-separated list of integers", code="bad-frames") from None
    if not frames or any(f < 1 for f in frames) or len(frames) > MAX_PARTS:
        raise BadRequest("frame numbers start at 1 (PS3.18 §10.4.1.1.2)", code="bad-frames")
    return [f - 1 for f in frames]


def _select(engine: Engine, principal: Principal, study_uid: str, series_uid: str | None,
            instance_uid: str | None) -> tuple[Study, list[tuple[Instance, Series]]]:
    with session_scope(engine, readonly=True) as session:
        access = dicomweb_study_filter(session=session, principal=principal)
        selected = wado.select_instances(session=session, access=access,
                                         study_uid=study_uid, series_uid=series_uid, instance_uid=instance_uid,
                                         pixels_only=True)
    study, rows = selected.study, selected.instances
    return study, rows


def _window(value: str | None) -> str:
    if not value:
        return S.DEFAULT_WINDOW
    try:
        w = window_from_query(value)
    except ValueError as exc:
        raise BadRequest(f"window: {exc}", code="bad-window") from None
    return S.custom_window(w.center, w.width, w.function)


def _width(viewport: str | None, instance: Instance, default: int | None) -> int | None:
    if not viewport:
        return default
    parts = viewport.split(",")
    # ASCII digits only: str.isdigit() is true for "²", which int() refuses
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        raise BadRequest("viewport must be vw,vh (a source region is not supported)", code="bad-viewport")
    vw, vh = int(parts[0]), int(parts[1])
    if not (1 <= vw <= 10_000 and 1 <= vh <= 10_000):
        raise BadRequest("viewport out of range", code="bad-viewport")
    rows, cols = instance.rows or 1, instance.columns or 1
    spacing = instance.pixel_spacing or [1.0, 1.0]
    aspect = (spacing[0] / spacing[1]) if len(spacing) == 2 and spacing[0] > 0 and spacing[1] > 0 else 1.0
    fit = int(vh * cols / (rows * aspect)) if rows else vw
    return max(1, min(vw, fit, MAX_VIEWPORT))


def _quality(value: str | None, fmt: S.Fmt) -> int:
    if value is None:
        return S.QUALITY[fmt]
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 100:
        raise BadRequest("quality must be 1..100", code="bad-quality")
    return int(value)


def _audit(engine: Engine, principal: Principal, study: Study, series_ids: set[str]) -> None:
    for series_id in sorted(series_ids):
        views.record_once(
            engine=engine, principal=principal, series_id=series_id,
            write=lambda session, sid=series_id: audit.record(  # type: ignore[misc]
                session, principal=principal, action=audit.READ, event_type=views.EVENT, person_id=study.person_id,
                object_type="imaging_series", object_id=sid, detail={"study_id": study.id, "via": "dicomweb"}),
        )


def _render_all(runtime: service.Runtime, specs: Sequence[tuple[Instance, S.PreviewSpec]]) -> list[bytes]:
    """Cache hits read from disk; misses rendered in parallel on the pool. First failure -> 4xx."""
    pending: list[tuple[int, Future[Any]]] = []
    out: list[bytes | None] = []
    for n, (instance, spec) in enumerate(specs):
        ref = service.instance_ref(runtime.blobs, instance)
        hit = service.cached_image(runtime, spec, series_id=instance.series_id, ref=ref,
                                   renders_here=runtime.pool is None, read=partial(runtime.cache.get, spec.relpath))
        if hit is not None:
            out.append(hit)
            continue
        error = service.cached_error(runtime, spec)
        if error is not None:
            raise service.problem(reason=str(error.get("reason")), en=str(error.get("en")), zh=str(error.get("zh")))
        out.append(None)
        pending.append((n, runtime.run(jobs.render_preview, ref, spec.frame,
                                       spec.window, spec.width, spec.fmt, spec.quality, str(runtime.cache.root),
                                       runtime.limits)))
    for n, future in pending:
        try:
            out[n] = service.wait(future, service.RENDER_TIMEOUT_S)
        except RenderError as exc:
            raise service.problem(reason=exc.reason, en=exc.message_en, zh=exc.message_zh) from None
    return [b for b in out if b is not None]


def _respond(request: Request, principal: Principal, engine: Engine, runtime: service.Runtime, *, level: str,
             study_uid: str, series_uid: str | None = None, instance_uid: str | None = None,
             frames: str | None = None, thumbnail: bool = False) -> Response:
    q = request.query_params
    fmt = _media(q.get("accept"), request.headers.get("accept"))
    window, quality = _window(q.get("window")), _quality(q.get("quality"), fmt)
    study, rows = _select(engine, principal, study_uid, series_uid, instance_uid)
    chosen: list[tuple[Instance, int]]
    if frames is not None:
        instance = rows[0][0]
        chosen = [(instance, f) for f in _frames(frames)]
        for _, f in chosen:
            service.check_frame(instance, f)
    else:
        chosen = [(i, f) for i, _ in rows for f in range(max(1, i.frames or 1))]
    if thumbnail:
        if level in ("study", "series"):
            first_series = rows[0][1].id
            chosen = [(i, f) for i, f in chosen if i.series_id == first_series]
        chosen = [chosen[len(chosen) // 2]] if level != "frames" else chosen[:1]
    if len(chosen) > MAX_PARTS:
        raise PayloadTooLarge(f"{len(chosen)} frames exceed {MAX_PARTS} per response; ask per series or instance",
                              code="rendered-too-many-frames")
    default_width = S.THUMB_WIDTH if thumbnail else None
    specs = [(i, S.preview_spec(sha256=i.sha256, frame=f, window=window, width=_width(q.get("viewport"), i,
                                default_width), fmt=fmt, quality=quality)) for i, f in chosen]
    _audit(engine, principal, study, {i.series_id for i, _ in chosen})
    etag = '"' + "-".join(s.digest[:12] for _, s in specs[:50]) + f'-{len(specs)}"'
    headers = {"ETag": etag, "Cache-Control": service.cache_control(principal, default=CACHE)}
    if S.etag_listed(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    try:
        images = _render_all(runtime, specs)
    except Exception as exc:
        if thumbnail and getattr(exc, "status", 500) < 500:
            return Response(placeholder_jpeg(specs[0][1].width or S.THUMB_WIDTH), media_type="image/jpeg",
                            headers={"Cache-Control": "no-store", "X-Preview-Error": str(getattr(exc, "code", ""))})
        raise
    media = S.MEDIA[fmt]
    if len(images) == 1 and (thumbnail or frames is not None or level == "instance"):
        return Response(images[0], media_type=media, headers=headers)
    boundary = secrets.token_hex(16)
    body = bytearray()
    for image in images:
        body += f"--{boundary}\r\nContent-Type: {media}\r\n\r\n".encode() + image + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return Response(bytes(body), media_type=f'multipart/related; type="{media}"; boundary={boundary}',
                    headers=headers)


DOC = ("Query: window=center,width[,function]; viewport=vw,vh; quality=1..100; accept=image/jpeg|image/webp. "
       "Cached `private, max-age=3600`, but `no-store` for a doctor's share session (nothing stays in the browser).")


def _route(path: str, level: str, thumbnail: bool) -> None:
    summary = f"{'Thumbnail' if thumbnail else 'Rendered'} {level} (PS3.18 §10.4.1.1.{4 if thumbnail else 3})"

    async def endpoint(request: Request, principal: DicomwebPrincipal, engine: EngineDep, runtime: PreviewRuntimeDep,
                       study: str, series: str | None = None, instance: str | None = None, frames: str | None = None,
                       window: Opt = None, viewport: Opt = None, quality: Opt = None, accept: Opt = None) -> Response:
        del window, viewport, quality, accept  # read from request.query_params; declared for OpenAPI
        return await run_in_threadpool(_respond, request, principal, engine, runtime, level=level, study_uid=study,
                                       series_uid=series, instance_uid=instance, frames=frames, thumbnail=thumbnail)

    endpoint.__name__ = f"{level}_{'thumbnail' if thumbnail else 'rendered'}"
    router.add_api_route(path, endpoint, methods=["GET"], summary=summary, description=DOC, response_class=Response,
                         responses={200: {"content": {"image/jpeg": {}, "image/webp": {}, "multipart/related": {}}}})


for _suffix, _thumb in (("rendered", False), ("thumbnail", True)):
    _route(f"/studies/{{study}}/{_suffix}", "study", _thumb)
    _route(f"/studies/{{study}}/series/{{series}}/{_suffix}", "series", _thumb)
    _route(f"/studies/{{study}}/series/{{series}}/instances/{{instance}}/{_suffix}", "instance", _thumb)
    _route(f"/studies/{{study}}/series/{{series}}/instances/{{instance}}/frames/{{frames}}/{_suffix}", "frames", _thumb)
