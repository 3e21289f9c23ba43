"""``GET /dicomweb/studies/{s}/series/{se}/instances/{i}/frames/{list}``: WADO-RS frames (PS3.18
§10.4.1.1.2). Thin HTTP around ``backend.dicomweb.frames``.

Who: the principals and study visibility of the rest of DICOMweb (``access.service.dicomweb_study_filter``):
a hospital its own uploads, a share session its share's studies — with or without ``allow_download``,
since frames are pixel values for a viewer, not Part-10 files. Anything else is the same 404 as an
unknown UID. Reads are audited as ``series.view`` once per reader, series and hour, like the rendered
resources (``previews/views.py`` says why).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from backend.access import audit
from backend.access.principals import Principal, SharePrincipal
from backend.access.service import dicomweb_study_filter
from backend.api.deps import DicomwebPrincipal, EngineDep, PreviewRuntimeDep
from backend.db import session_scope
from backend.dicomweb import frames as F
from backend.dicomweb import wado
from backend.errors import NotAcceptable
from backend.previews import service, views
from backend.rendering import RenderError
from backend.studies.models import Instance, Study

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])
DECODE_CHUNK = 8  # frames per render-pool job when decoding: one job's wait bounds the next part's delay
DOC = """Pixel data of one or more frames (numbers from 1, comma-separated, in the order wanted) as
`multipart/related`, one part per frame.

* `Accept: multipart/related; type="application/octet-stream"` (the default; also with
  `transfer-syntax=1.2.840.10008.1.2.1`): uncompressed little-endian cells of Bits Allocated, values masked to
  Bits Stored and sign-extended.
* `...; transfer-syntax=*` or the original's own media type (`image/jpeg`, `image/jls`, `image/jp2`, `image/jpx`,
  `image/jphc`, `image/dicom-rle`): the original compressed frame as stored, its part's Content-Type naming the
  transfer syntax; uncompressed when the original is not compressed.

400 for a malformed list or a frame number the instance does not have; 404 for an unknown or unreadable
study, series or instance (the same answer); 406 when the Accept header allows none of these. Share sessions
read frames of their share's studies whether or not the patient allowed downloads (frames are not Part-10
files). `Cache-Control: no-store`."""


def _audit(engine: Engine, principal: Principal, study: Study, series_id: str) -> None:
    share_id = principal.share_id if isinstance(principal, SharePrincipal) else None
    views.record_once(
        engine=engine, principal=principal, series_id=series_id,
        write=lambda session: audit.record(
            session, principal=principal, action=audit.READ, event_type=views.EVENT, person_id=study.person_id,
            via_share_id=share_id, object_type="imaging_series", object_id=series_id,
            detail={"study_id": study.id, "via": "dicomweb-frames"}),
    )


def _select(engine: Engine, principal: Principal, study: str, series: str, instance: str) -> tuple[Study, Instance]:
    with session_scope(engine, readonly=True) as session:
        access = dicomweb_study_filter(session=session, principal=principal)
        selected = wado.select_instances(session=session, access=access, study_uid=study, series_uid=series,
                                         instance_uid=instance, pixels_only=True)
    return selected.study, selected.instances[0][0]


def _decoded(runtime: service.Runtime, inst: Instance, indices: list[int]) -> Iterator[bytes]:
    ref = service.instance_ref(runtime.blobs, inst)
    signed = inst.pixel_representation == 1
    for start in range(0, len(indices), DECODE_CHUNK):
        chunk = indices[start:start + DECODE_CHUNK]
        future = runtime.run(F.decode_frames, ref, chunk, int(inst.bits_allocated or 16), inst.bits_stored, signed,
                             str(runtime.cache.root), runtime.limits, direct=len(chunk) == 1)
        try:
            yield from service.wait(future, service.RENDER_TIMEOUT_S * len(chunk))
        except RenderError as exc:
            raise service.problem(reason=exc.reason, en=exc.message_en, zh=exc.message_zh) from None


def _parts(runtime: service.Runtime, inst: Instance, indices: list[int], wanted: F.Wanted) -> Iterator[F.Part]:
    ts = inst.transfer_syntax_uid
    if inst.pixel_encapsulated and wanted.original_ok(ts):
        located = [F.original_fragments(inst, i) for i in indices]
        if all(found is not None for found in located):
            kind = F.original_type(ts, wanted)
            for fragments in located:
                yield F.Part(kind, F.read_original(runtime.blobs, inst.blob_key, fragments or []))
            return
    if not wanted.uncompressed:
        raise NotAcceptable("this frame is not stored in a compressed syntax the Accept header names; ask for "
                              'type="application/octet-stream"', code="frames-not-acceptable")
    kind = F.uncompressed_type()
    if F.native_direct(inst):
        for i in indices:
            yield F.Part(kind, F.read_native(runtime.blobs, inst, i))
        return
    for data in _decoded(runtime, inst, indices):
        yield F.Part(kind, data)


def _respond(request: Request, principal: Principal, engine: Engine, runtime: service.Runtime, study: str, series: str,
             instance: str, frame_list: str) -> Response:
    wanted = F.negotiate(request.headers.get("accept"))
    found_study, inst = _select(engine, principal, study, series, instance)
    indices = F.parse_frame_list(frame_list, frames=max(1, inst.frames or 1))
    parts = _parts(runtime, inst, indices, wanted)
    first = next(parts)  # decoded before answering: a file that cannot be decoded is a 4xx, not a cut stream
    _audit(engine, principal, found_study, inst.series_id)
    boundary = F.new_boundary()

    def body() -> Iterator[F.Part]:
        yield first
        yield from parts

    return StreamingResponse(F.multipart(body(), boundary=boundary), media_type=F.response_type(first, boundary),
                             headers={"Cache-Control": "no-store"})


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
            summary="WADO-RS: retrieve frames (PS3.18 §10.4.1.1.2)", description=DOC, response_class=Response,
            responses={200: {"content": {"multipart/related": {}}}, 400: {}, 404: {}, 406: {}})
async def retrieve_frames(study: str, series: str, instance: str, frames: str, request: Request,
                          principal: DicomwebPrincipal, engine: EngineDep, runtime: PreviewRuntimeDep) -> Response:
    return await run_in_threadpool(_respond, request, principal, engine, runtime, study, series, instance, frames)
