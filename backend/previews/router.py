"""Person-scoped preview endpoints for the PWA (URLs come from `urls.py` via the study detail).

Access: the same policy as `ReadablePerson` — `authorize_person` for the path's person, then the
object must belong to that person and the access must cover imaging studies (else 404) — but in a
READ-ONLY transaction: `SessionDep` opens a write transaction (SQLite: BEGIN IMMEDIATE) and a phone
scrolling a CT sends dozens of preview requests a second, which must not queue on the write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.access.callers import who_is_calling
from backend.access.principals import Principal
from backend.access.service import PersonAccess
from backend.api.deps import EngineDep, PreviewRuntimeDep, resolvers_of
from backend.db import session_scope
from backend.errors import BadRequest, NotFound
from backend.rendering import RenderError

from . import service, urls, views
from . import spec as S
from .placeholder import placeholder_jpeg
from .schemas import ScrubAnswer

router = APIRouter(tags=["previews"])
IMMUTABLE = service.IMMUTABLE
Id = Annotated[str, Path(min_length=1, max_length=64)]


def caller(request: Request, session: Session) -> Principal:
    return who_is_calling(request, session, resolvers=resolvers_of(request))


def etag_matches(request: Request, etag: str) -> bool:
    return S.etag_listed(request.headers.get("if-none-match", ""), etag)


def _image_response(request: Request, *, etag: str, data: bytes, media: str, cache: str = IMMUTABLE) -> Response:
    """Previews and sheets are small (tens of kB to about 1 MB): one read of the object, one answer."""
    headers = {"ETag": etag, "Cache-Control": cache}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media, headers=headers)


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What the routes below hand to their worker thread: the request, the engine, the previews runtime."""

    request: Request
    engine: Engine
    runtime: service.Runtime

    def caller(self, session: Session) -> Principal:
        return who_is_calling(self.request, session, resolvers=resolvers_of(self.request))

    def audit_view(self, access: PersonAccess, series_id: str, study_id: str) -> None:
        views.record_view(engine=self.engine, access=access, series_id=series_id, study_id=study_id)


def _locate(ctx: _Ctx, person_id: str, instance_id: str) -> tuple[PersonAccess, Any, Any]:
    with session_scope(ctx.engine, readonly=True) as session:
        return service.person_instance(session=session, principal=ctx.caller(session), person_id=person_id,
                                       instance_id=instance_id)


def _preview(ctx: _Ctx, person_id: str, instance_id: str, frame: int, window: str, name: str,
             placeholder: bool) -> Response:
    request, runtime = ctx.request, ctx.runtime
    access, instance, study = _locate(ctx, person_id, instance_id)
    width_s, _, ext = name.rpartition(".")
    try:
        spec = S.preview_spec(sha256=instance.sha256, frame=frame, window=S.parse_window(window),
                              width=S.parse_width(width_s), fmt=S.parse_ext(ext))
    except S.SpecError as exc:
        raise BadRequest(str(exc), code="preview-bad-request") from None
    service.check_frame(instance, frame)
    ctx.audit_view(access, instance.series_id, study.id)
    media = S.MEDIA[spec.fmt]
    cache = service.cache_control(access.principal)
    hit = runtime.cache.get(spec.relpath)
    if hit is not None:
        return _image_response(request, etag=spec.etag, data=hit, media=media, cache=cache)
    error = service.cached_error(runtime, spec)
    try:
        if error is not None:
            raise RenderError(reason=str(error.get("reason")), message_en=str(error.get("en")),
                              message_zh=str(error.get("zh")))
        data = service.render_preview(runtime, service.instance_ref(runtime.blobs, instance), spec)
    except RenderError as exc:
        if placeholder:
            return Response(placeholder_jpeg(spec.width or S.THUMB_WIDTH), media_type="image/jpeg",
                            headers={"Cache-Control": "no-store", "X-Preview-Error": exc.reason})
        raise service.problem(reason=exc.reason, en=exc.message_en, zh=exc.message_zh) from None
    return _image_response(request, etag=spec.etag, data=data, media=media, cache=cache)


@router.get("/people/{person_id}/previews/{instance_id}/{frame}/{window}/{name}",
            summary="A preview image (content-addressed: use the URLs the study detail returns)",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}, "image/webp": {}}}})
async def preview(request: Request, engine: EngineDep, runtime: PreviewRuntimeDep, person_id: Id, instance_id: Id,
                  frame: Annotated[int, Path(ge=0, le=100_000)], window: Annotated[str, Path(max_length=40)],
                  name: Annotated[str, Path(max_length=16)], placeholder: Annotated[bool, Query()] = False) -> Response:
    """Content-addressed, so browsers may keep it a year (`private, immutable`) — except in a doctor's
    share session, which is answered `no-store`: nothing stays on the doctor's computer after the share."""
    return await run_in_threadpool(_preview, _Ctx(request, engine, runtime), person_id, instance_id, frame, window,
                                   name, placeholder)


def _series(ctx: _Ctx, person_id: str, series_id: str) -> tuple[PersonAccess, Any, Any, list[Any]]:
    with session_scope(ctx.engine, readonly=True) as session:
        access, series, study = service.person_series(session=session, principal=ctx.caller(session),
                                                      person_id=person_id, series_id=series_id)
        return access, series, study, service.series_members(session, series_id)


def _scrub_refs(ctx: _Ctx, person_id: str,
                series_id: str) -> tuple[PersonAccess, Any, list[service.FrameRef], tuple[str | None, str | None]]:
    with session_scope(ctx.engine, readonly=True) as session:
        access, series, _ = service.person_series(session=session, principal=ctx.caller(session),
                                                  person_id=person_id, series_id=series_id)
        refs = service.series_frame_refs(session, series_id)
        look = service.series_look(session, refs[0].id) if refs else (None, None)
        return access, series, refs, look


def _scrub(ctx: _Ctx, person_id: str, series_id: str, window: str) -> Response:
    request, runtime = ctx.request, ctx.runtime
    try:
        window = S.parse_window(window)
    except S.SpecError as exc:
        raise BadRequest(str(exc), code="preview-bad-request") from None
    # Issue 18, the first image of a study: the answer needs each image's id, sha256 and frame count
    # (its content key and frame URLs) and the first one's kind (its windows) — three columns, where
    # building a 300-slice CT's whole instance rows was most of its CPU, in the login rush when every
    # person opens a study at once. The whole rows are read only when the strips must be built.
    access, series, refs, look = _scrub_refs(ctx, person_id, series_id)
    ctx.audit_view(access, series.id, series.study_id)
    key = service.scrub_key_of_refs(refs, window)
    layout = service.scrub_layout(runtime, key) if refs else None
    if layout is None:  # built from the rows read now, so the key and the URLs are the layout's own
        _, _, _, members = _series(ctx, person_id, series_id)
        refs = [service.FrameRef(id=m.instance.id, sha256=m.instance.sha256, frames=m.frames) for m in members]
        look = ((members[0].instance.photometric_interpretation, members[0].instance.sop_class_uid) if members
                else (None, None))
        key = service.scrub_key(members, window)
        layout = service.build_series(runtime, members, window=window)
    frames = [(ref, f) for ref in refs for f in range(ref.frames)]
    body = {
        **layout,
        "key": key,
        "window": window,
        "sheet_urls": [urls.sheet_url(person_id=person_id, series_id=series.id, window=window, key=key, n=n)
                       for n in range(len(layout["sheets"]))],
        "widths": [*map(str, S.WIDTHS), S.FULL],
        "formats": {"jpeg": "jpg", "webp": "webp"},
        "windows": _windows(*look),
        "frame_urls": [urls.preview_template(person_id=person_id, instance=i, frame=f) for i, f in frames],
    }
    etag = f'"{key}"'
    headers = {"ETag": etag, "Cache-Control": service.cache_control(access.principal, default="private, no-cache")}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(body, headers=headers)


def _windows(photometric: str | None, sop_class_uid: str | None) -> list[dict[str, str]]:
    out = [{"id": S.DEFAULT_WINDOW, "name_zh": "默认", "name_en": "Default"}]
    if (photometric or "").startswith("MONOCHROME"):
        from backend.rendering.presets import CT_PRESETS

        if (sop_class_uid or "").startswith("1.2.840.10008.5.1.4.1.1.2"):  # CT Image Storage (+enhanced)
            out += [{"id": p.id, "name_zh": p.name_zh, "name_en": p.name_en} for p in CT_PRESETS]
        out.append({"id": "auto", "name_zh": "自动", "name_en": "Automatic"})
    return out


# The body is built as a dict and sent with its ETag (304 on a match); response_model documents it.
@router.get("/people/{person_id}/series/{series_id}/scrub", summary="Scrub strips of a series: layout + frame URLs",
            response_model=ScrubAnswer, responses={304: {"description": "Not modified (If-None-Match)"}})
async def scrub(request: Request, engine: EngineDep, runtime: PreviewRuntimeDep, person_id: Id, series_id: Id,
                window: Annotated[str, Query(max_length=40)] = S.DEFAULT_WINDOW) -> Response:
    """The series' scrub strips (`private, no-cache`; `no-store` in a doctor's share session)."""
    return await run_in_threadpool(_scrub, _Ctx(request, engine, runtime), person_id, series_id, window)


def _sheet(ctx: _Ctx, person_id: str, series_id: str, window: str, key: str, name: str) -> Response:
    access, _, _, members = _series(ctx, person_id, series_id)
    n, _, ext = name.partition(".")
    try:
        # The key must be this series' own content key: a key of another series is not readable here.
        number = n.isascii() and n.isdigit()  # str.isdigit() is true for "²", which int() refuses
        valid = number and ext == "jpg" and key == service.scrub_key(members, S.parse_window(window))
    except S.SpecError:
        valid = False
    if not valid:
        raise NotFound("No such sheet.", zh="未找到该图片", code="sheet-not-found")
    data = ctx.runtime.cache.get(S.scrub_relpath(key, f"sheet-{int(n)}.jpg"))
    if data is None:
        raise NotFound("No such sheet (fetch the scrub layout first).",
                       zh="未找到该图片，请先加载序列", code="sheet-not-found")
    return _image_response(ctx.request, etag=f'"{key}-{int(n)}"', data=data, media="image/jpeg",
                           cache=service.cache_control(access.principal))


@router.get("/people/{person_id}/series/{series_id}/scrub/{window}/{key}/{name}", summary="One scrub-strip sheet",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
async def scrub_sheet(request: Request, engine: EngineDep, runtime: PreviewRuntimeDep, person_id: Id, series_id: Id,
                      window: Annotated[str, Path(max_length=40)], key: Annotated[str, Path(max_length=64)],
                      name: Annotated[str, Path(max_length=16)]) -> Response:
    """One sheet of scrub strips (`private, immutable`; `no-store` in a doctor's share session)."""
    return await run_in_threadpool(_sheet, _Ctx(request, engine, runtime), person_id, series_id, window, key, name)
