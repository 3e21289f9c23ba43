"""DICOMweb under ``/dicomweb`` (PS3.18): STOW-RS, QIDO-RS, WADO-RS. Thin: HTTP in, service out.

Sessions here are opened per step, not per request: a STOW-RS upload can take minutes and must not
hold a database transaction (on SQLite: the write lock) while bytes arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from backend.access import audit, originals
from backend.access.principals import Anonymous, InstitutionPrincipal, Principal, SharePrincipal
from backend.access.service import dicomweb_study_filter
from backend.config import Settings
from backend.db import session_scope
from backend.dicom.dicomjson import stow_http_status, stow_response_json, stow_response_xml
from backend.dicom.multipart import (
    MultipartError,
    MultipartLimits,
    Part,
    parse_related_content_type,
    read_multipart,
)
from backend.dicomweb import qido, wado
from backend.errors import (
    AppError,
    BadRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    problem_response,
)
from backend.ingest import parsepool
from backend.ingest.parsepool import ParseResult
from backend.ingest.service import StowBatch
from backend.sharing import masking
from backend.storage.service import LocalBlobStore

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])
log = logging.getLogger("yunying.dicomweb")
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
NO_STORE = {"Cache-Control": "no-store"}
PARSE_WINDOW = 4  # parts parsed ahead (backend.ingest.parsepool) while later parts are being received


def dicomweb_principal(request: Request) -> Principal:
    """Resolve the principal in a short transaction of its own (see module docstring)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        found: Principal = cached
        return found
    principal: Principal = Anonymous()
    with session_scope(request.app.state.engine) as session:
        for resolve in request.app.state.principal_resolvers:
            answer = resolve(request, session)
            if answer is not None:
                principal = answer
                break
    request.state.principal = principal
    return principal


def _require_principal(principal: Annotated[Principal, Depends(dicomweb_principal)]) -> Principal:
    if isinstance(principal, Anonymous):
        error = Unauthorized("DICOMweb needs credentials (Authorization: Bearer <API key>).", code="api-key-required")
        error.headers = {"WWW-Authenticate": 'Bearer realm="yunying-dicomweb"'}
        raise error
    return principal


DicomwebPrincipal = Annotated[Principal, Depends(_require_principal)]


def _base(settings: Settings) -> str:
    return f"{settings.public_url}/dicomweb"


def _wants_xml(accept: str | None) -> bool:
    if not accept:
        return False
    xml_at, json_at = accept.find(DICOM_XML), accept.find(DICOM_JSON)
    return xml_at >= 0 and (json_at < 0 or xml_at < json_at)


# -- STOW-RS (PS3.18 §10.5) -------------------------------------------------------------------------
@router.post("/studies", summary="STOW-RS: store instances", response_class=Response)
async def stow(request: Request, principal: DicomwebPrincipal) -> Response:
    return await _stow(request, principal, None)


@router.post("/studies/{study}", summary="STOW-RS: store instances of one study", response_class=Response)
async def stow_study(study: str, request: Request, principal: DicomwebPrincipal) -> Response:
    return await _stow(request, principal, study)


async def _stow(request: Request, principal: Principal, study_uid: str | None) -> Response:
    if not isinstance(principal, InstitutionPrincipal):
        raise Unauthorized("Only a hospital API key may store instances.", code="api-key-required")
    settings: Settings = request.app.state.settings
    blobs: LocalBlobStore = request.app.state.blobs
    engine: Engine = request.app.state.engine
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_request_bytes:
        raise PayloadTooLarge(f"request body over {settings.max_request_bytes} bytes", code="request-too-large")
    try:
        content_type = parse_related_content_type(request.headers.get("content-type"))
    except MultipartError as exc:
        raise _multipart_problem(exc) from None
    batch = StowBatch(settings=settings, engine=engine, blobs=blobs, principal=principal, base_url=_base(settings),
                      path_study_uid=study_uid)
    limits = MultipartLimits(max_part_bytes=settings.max_instance_bytes, max_total_bytes=settings.max_request_bytes)
    try:
        problem = await _receive(request, batch, boundary=content_type.boundary, directory=blobs.tmp, limits=limits)
        # Whole instances received before a framing error are kept: they are complete, re-uploads are idempotent.
        await run_in_threadpool(batch.flush)
        await run_in_threadpool(_audit_stow, engine, principal, batch)
    except SQLAlchemyError as exc:
        log.error("STOW-RS: database error %s", type(exc).__name__)
        batch.discard()
        error = ServiceUnavailable("The archive's database is unavailable; retry later (re-uploads are idempotent).",
                                   code="database-unavailable")
        error.headers = {"Retry-After": "30"}
        raise error from None
    if problem is not None:
        problem.extra["stored"] = len(batch.stored)
        return problem_response(problem, instance=request.url.path)
    result = batch.response()
    status = stow_http_status(result)
    if status == 400:
        raise BadRequest("the request contained no DICOM parts", code="stow-empty")
    if _wants_xml(request.headers.get("accept")):
        return Response(stow_response_xml(result), status_code=status, media_type=DICOM_XML, headers=NO_STORE)
    return JSONResponse(stow_response_json(result), status_code=status, media_type=DICOM_JSON, headers=NO_STORE)


async def _receive(
    request: Request, batch: StowBatch, *, boundary: str, directory: Path, limits: MultipartLimits
) -> AppError | None:
    """Read the parts while up to ``PARSE_WINDOW`` earlier ones are parsed (threads or processes); take
    their results in request order and flush full batches in a thread. Returns the request-level
    problem (framing error, client gone) or None. Complete parts are kept even then."""
    window: deque[tuple[Part, asyncio.Future[ParseResult] | None]] = deque()

    async def take_oldest() -> None:
        part, future = window.popleft()
        batch.take(part, await future if future is not None else None)
        if batch.full:
            await run_in_threadpool(batch.flush)

    problem: AppError | None = None
    try:
        async for part in read_multipart(request.stream(), boundary=boundary, directory=directory, limits=limits):
            parsing = None
            if part.path is not None and not part.rejected:
                parsing = asyncio.ensure_future(parsepool.parse_async(part.path, batch.limits))
            window.append((part, parsing))
            while len(window) > PARSE_WINDOW:
                await take_oldest()
    except MultipartError as exc:
        problem = _multipart_problem(exc)
    except ClientDisconnect:
        problem = BadRequest("the client went away before the request was complete", code="client-disconnected")
    finally:
        while window:
            await take_oldest()
    return problem


def _multipart_problem(exc: MultipartError) -> AppError:
    cls: type[AppError] = {413: PayloadTooLarge, 415: UnsupportedMediaType}.get(exc.status, BadRequest)
    return cls(exc.message_en, code="stow-bad-request" if cls is BadRequest else None, message_zh=exc.message_zh)


def _audit_stow(engine: Engine, principal: InstitutionPrincipal, batch: StowBatch) -> None:
    with session_scope(engine) as session:
        audit.record(
            session, principal=principal, action=audit.CREATE, event_type="dicom.stow", object_type="stow_request",
            outcome=audit.SUCCESS if not batch.failed else audit.MINOR_FAILURE,
            detail={"stored": len(batch.stored), "failed": len(batch.failed), "studies": len(batch.studies)},
        )


# -- QIDO-RS (PS3.18 §10.6) ---------------------------------------------------------------------------
def _search(request: Request, principal: Principal, level: str, **fixed: str) -> Response:
    settings: Settings = request.app.state.settings
    levels = {"study": ["study"], "series": ["series", "study"], "instance": ["instance", "series", "study"]}[level]
    params = list(request.query_params.multi_items())
    params += [(key, value) for key, value in fixed.items()]
    share = isinstance(principal, SharePrincipal)
    query = qido.parse_query(params, levels=levels, unmatchable=masking.UNMATCHABLE if share else frozenset())
    base = _base(settings)
    body: list[dict[str, Any]]
    with session_scope(request.app.state.engine) as session:
        access = dicomweb_study_filter(session=session, principal=principal)
        if level == "study":
            studies = qido.search_studies(session=session, access=access, query=query)
            body = [qido.study_json(s, base=base, include_all=query.include_all) for s in studies]
        elif level == "series":
            rows = qido.search_series(session=session, access=access, query=query)
            body = [qido.series_json(s, st, base=base, include_all=query.include_all) for s, st in rows]
        else:
            found = qido.search_instances(session=session, access=access, query=query)
            body = [qido.instance_json(i, s, st, base=base, include_all=query.include_all) for i, s, st in found]
        audit.record(session, principal=principal, action=audit.READ, event_type="dicom.qido", object_type=level,
                     detail={"results": len(body)})
    if share:  # the patient's identity as the share page shows it (sharing/masking.py)
        body = [masking.mask_dataset(item) for item in body]
    headers = dict(NO_STORE)
    if query.ignored:
        headers["Warning"] = f'299 yunying "not supported, ignored: {", ".join(sorted(set(query.ignored)))}"'
    return JSONResponse(body, media_type=DICOM_JSON, headers=headers)


@router.get("/studies", summary="QIDO-RS: search studies")
def search_studies(request: Request, principal: DicomwebPrincipal) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, principal, "study")


@router.get("/series", summary="QIDO-RS: search series")
def search_all_series(request: Request, principal: DicomwebPrincipal) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, principal, "series")


@router.get("/instances", summary="QIDO-RS: search instances")
def search_all_instances(request: Request, principal: DicomwebPrincipal) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, principal, "instance")


@router.get("/studies/{study}/series", summary="QIDO-RS: search a study's series")
def search_series(study: str, request: Request, principal: DicomwebPrincipal) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, principal, "series", StudyInstanceUID=study)


@router.get("/studies/{study}/instances", summary="QIDO-RS: search a study's instances")
def search_study_instances(study: str, request: Request, principal: DicomwebPrincipal) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, principal, "instance", StudyInstanceUID=study)


@router.get("/studies/{study}/series/{series}/instances", summary="QIDO-RS: search a series' instances")
def search_instances(study: str, series: str, request: Request, principal: DicomwebPrincipal) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, principal, "instance", StudyInstanceUID=study, SeriesInstanceUID=series)


# -- WADO-RS (PS3.18 §10.4) ---------------------------------------------------------------------------
def _select(request: Request, principal: Principal, event: str, study: str, series: str | None,
            instance: str | None) -> wado.Selected:
    with session_scope(request.app.state.engine) as session:
        access = dicomweb_study_filter(session=session, principal=principal)
        selected = wado.select_instances(session=session, access=access,
                                         study_uid=study, series_uid=series, instance_uid=instance)
        audit.record(session, principal=principal, action=audit.READ, event_type=event,
                     person_id=selected.study.person_id, object_type="imaging_study", object_id=selected.study.id,
                     detail={"instances": len(selected.instances)})
    return selected


def _retrieve(request: Request, principal: Principal, study: str, series: str | None = None,
              instance: str | None = None) -> Response:
    with session_scope(request.app.state.engine, readonly=True) as session:
        # Original files only where the share allows downloads — asked before the study is looked at.
        originals.require_originals(session=session, principal=principal)
    wado.check_accept_dicom(request.headers.get("accept"))
    selected = _select(request, principal, "dicom.wado", study, series, instance)
    boundary = wado.new_boundary()
    stream = wado.multipart_stream(blobs=request.app.state.blobs, instances=[i for i, _ in selected.instances],
                                   boundary=boundary)
    media = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return StreamingResponse(stream, media_type=media, headers=NO_STORE)


def _metadata(request: Request, principal: Principal, study: str, series: str | None = None,
              instance: str | None = None) -> Response:
    selected = _select(request, principal, "dicom.wado_metadata", study, series, instance)
    body = wado.metadata(blobs=request.app.state.blobs, instances=[i for i, _ in selected.instances])
    if isinstance(principal, SharePrincipal):  # the patient's identity as the share page shows it
        body = [masking.mask_dataset(item) for item in body]
    return JSONResponse(body, media_type=DICOM_JSON, headers=NO_STORE)


@router.get("/studies/{study}", summary="WADO-RS: retrieve a study")
def retrieve_study(study: str, request: Request, principal: DicomwebPrincipal) -> Response:
    """Original Part-10 instances (multipart/related). A doctor's share session gets them only when the
    patient allowed downloads (else 403, asked before the study is looked at); a hospital reads back
    what it uploaded."""
    return _retrieve(request, principal, study)


@router.get("/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series")
def retrieve_series(study: str, series: str, request: Request, principal: DicomwebPrincipal) -> Response:
    """Original Part-10 instances (multipart/related). A doctor's share session gets them only when the
    patient allowed downloads (else 403, asked before the study is looked at); a hospital reads back
    what it uploaded."""
    return _retrieve(request, principal, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}", summary="WADO-RS: retrieve an instance")
def retrieve_instance(
    study: str, series: str, instance: str, request: Request, principal: DicomwebPrincipal
) -> Response:
    """Original Part-10 instances (multipart/related). A doctor's share session gets them only when the
    patient allowed downloads (else 403, asked before the study is looked at); a hospital reads back
    what it uploaded."""
    return _retrieve(request, principal, study, series, instance)


@router.get("/studies/{study}/metadata", summary="WADO-RS: study metadata")
def study_metadata(study: str, request: Request, principal: DicomwebPrincipal) -> Response:
    """DICOM JSON of the stored headers (no bulk data). For a doctor's share session the patient's identity
    is masked as on the share page (name, resident IDs, phone, address …: backend/sharing/masking.py)."""
    return _metadata(request, principal, study)


@router.get("/studies/{study}/series/{series}/metadata", summary="WADO-RS: series metadata")
def series_metadata(study: str, series: str, request: Request, principal: DicomwebPrincipal) -> Response:
    """DICOM JSON of the stored headers (no bulk data). For a doctor's share session the patient's identity
    is masked as on the share page (name, resident IDs, phone, address …: backend/sharing/masking.py)."""
    return _metadata(request, principal, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}/metadata", summary="WADO-RS: instance metadata")
def instance_metadata(
    study: str, series: str, instance: str, request: Request, principal: DicomwebPrincipal
) -> Response:
    """DICOM JSON of the stored headers (no bulk data). For a doctor's share session the patient's identity
    is masked as on the share page (name, resident IDs, phone, address …: backend/sharing/masking.py)."""
    return _metadata(request, principal, study, series, instance)
