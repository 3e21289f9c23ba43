"""DICOMweb under ``/dicomweb`` (PS3.18): STOW-RS, QIDO-RS, WADO-RS. Thin: HTTP in, service out.

Sessions here are opened per step, not per request: a STOW-RS upload can take minutes and must not
hold a database transaction (on SQLite: the write lock) while bytes arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from backend.access import originals
from backend.access.principals import InstitutionPrincipal, Principal
from backend.api.deps import BlobsDep, DicomwebPrincipal, EngineDep, SessionDep, SettingsDep
from backend.api.problems import problem_response
from backend.config import Settings
from backend.db import session_scope
from backend.dicom.dicomjson import stow_http_status, stow_response_json, stow_response_xml
from backend.dicom.multipart import (
    MultipartError,
    MultipartLimits,
    MultipartReader,
    Part,
    parse_related_content_type,
)
from backend.dicomweb import service, wado
from backend.errors import (
    AppError,
    BadRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from backend.ingest import giveway, parsepool
from backend.ingest.parsing import ParseResult
from backend.ingest.service import StowBatch
from backend.storage.base import ObjectStore
from backend.storage.errors import StorageUnavailable
from backend.storage.service import scratch_dir

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])
log = logging.getLogger("yunying.dicomweb")
stage_log = logging.getLogger("yunying.ingest.stages")
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
NO_STORE = {"Cache-Control": "no-store"}
PARSE_WINDOW = 4  # parts parsed ahead (backend.ingest.parsepool) while later parts are being received


def _base(settings: Settings) -> str:
    return f"{settings.public_url}/dicomweb"


def _wants_xml(accept: str | None) -> bool:
    if not accept:
        return False
    xml_at, json_at = accept.find(DICOM_XML), accept.find(DICOM_JSON)
    return xml_at >= 0 and (json_at < 0 or xml_at < json_at)


# -- STOW-RS (PS3.18 §10.5) -------------------------------------------------------------------------
@router.post("/studies", summary="STOW-RS: store instances", response_class=Response)
async def stow(request: Request, principal: DicomwebPrincipal, settings: SettingsDep, engine: EngineDep,
               blobs: BlobsDep) -> Response:
    return await _stow(request, principal, settings, engine, blobs, None)


@router.post("/studies/{study}", summary="STOW-RS: store instances of one study", response_class=Response)
async def stow_study(study: str, request: Request, principal: DicomwebPrincipal, settings: SettingsDep,
                     engine: EngineDep, blobs: BlobsDep) -> Response:
    return await _stow(request, principal, settings, engine, blobs, study)


async def _stow(request: Request, principal: Principal, settings: Settings, engine: Engine, blobs: ObjectStore,
                study_uid: str | None) -> Response:
    if not isinstance(principal, InstitutionPrincipal):
        raise Unauthorized("Only a hospital API key may store instances.",
                           zh="只有医院 API 密钥可以上传影像", code="api-key-required")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_request_bytes:
        raise PayloadTooLarge(f"request body over {settings.max_request_bytes} bytes", code="request-too-large")
    try:
        content_type = parse_related_content_type(request.headers.get("content-type"))
    except MultipartError as exc:
        raise _multipart_problem(exc) from None
    started = time.perf_counter()
    batch = StowBatch(settings=settings, engine=engine, blobs=blobs, principal=principal, base_url=_base(settings),
                      path_study_uid=study_uid)
    limits = MultipartLimits(max_part_bytes=settings.max_instance_bytes, max_total_bytes=settings.max_request_bytes)
    try:
        spool = scratch_dir(data_dir=settings.data_dir)
        with parsepool.uploading():
            problem = await _receive(request, batch, boundary=content_type.boundary, directory=spool, limits=limits)
            # Whole instances received before a framing error are kept: they are complete, re-uploads are idempotent.
            await run_in_threadpool(batch.flush)
            await run_in_threadpool(_audit_stow, engine, principal, batch)
    except StorageUnavailable:
        # Instances indexed by earlier batches are whole (blob first, then row) and stay; the rest is
        # dropped. The client's retry completes the study: re-uploads of stored instances are no-ops.
        log.error("STOW-RS: the object store is unavailable")
        batch.discard()
        raise
    except SQLAlchemyError as exc:
        log.error("STOW-RS: database error %s", type(exc).__name__)
        batch.discard()
        error = ServiceUnavailable("The archive's database is unavailable; retry later (re-uploads are idempotent).",
                                   code="database-unavailable")
        error.headers = {"Retry-After": "30"}
        raise error from None
    # CPU/wall ms by stage (backend/ingest/stages.py): the capacity model's per-stage costs
    stage_log.info("stow instances=%d failed=%d wall_ms=%.1f %s", len(batch.stored), len(batch.failed),
                   1000 * (time.perf_counter() - started), batch.clock.line())
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
    their results in request order and flush full batches in a thread while the next batch is received
    and parsed. Returns the request-level problem (framing error, client gone) or None. Complete parts
    are kept even then."""
    window: deque[tuple[Part, asyncio.Future[ParseResult] | None]] = deque()
    flushing: asyncio.Future[None] | None = None

    async def flush_behind() -> None:
        # One flush at a time, in request order (each looks up what the earlier ones indexed); while it
        # stores and indexes, the event loop goes on receiving and parsing: on S3 a flush is mostly
        # waiting for PUTs, on a local disk for fsyncs.
        nonlocal flushing
        if flushing is not None:
            running, flushing = flushing, None
            await running
        flushing = asyncio.ensure_future(run_in_threadpool(batch.flush_detached, batch.detach()))

    async def take_oldest() -> None:
        part, future = window.popleft()
        batch.take(part, await future if future is not None else None)
        if batch.full:
            await flush_behind()

    problem: AppError | None = None
    reader = MultipartReader(boundary=boundary, directory=directory, limits=limits)
    try:
        async for chunk in request.stream():
            await giveway.give_way()  # to this process's SQLite writer, while it holds the lock (ingest/giveway.py)
            with batch.clock.stage("receive"):  # hash + temp-file write of the parts' bytes
                parts = reader.feed(chunk)
            for part in parts:
                parsing = None
                if part.path is not None and not part.rejected:
                    parsing = asyncio.ensure_future(parsepool.parse_async(
                        part.path, batch.limits, batch.clock, processes=batch.settings.parse_processes))
                window.append((part, parsing))
                while len(window) > PARSE_WINDOW:
                    await take_oldest()
        reader.finish()
    except MultipartError as exc:
        problem = _multipart_problem(exc)
    except ClientDisconnect:
        problem = BadRequest("the client went away before the request was complete", code="client-disconnected")
    finally:
        reader.abort()  # the part in progress, if any; parts already handed out are the batch's
        try:
            while window:
                await take_oldest()
        finally:
            if flushing is not None:  # never left running past the request (its outcome is the response's)
                await flushing
    return problem


def _multipart_problem(exc: MultipartError) -> AppError:
    cls: type[AppError] = {413: PayloadTooLarge, 415: UnsupportedMediaType}.get(exc.status, BadRequest)
    return cls(exc.message_en, code="stow-bad-request" if cls is BadRequest else None, message_zh=exc.message_zh)


def _audit_stow(engine: Engine, principal: InstitutionPrincipal, batch: StowBatch) -> None:
    with session_scope(engine) as session:  # its own short transaction: STOW holds none while receiving
        service.audit_stow(session, principal=principal, batch=batch)


# -- QIDO-RS (PS3.18 §10.6) ---------------------------------------------------------------------------
def _search(request: Request, session: Session, settings: Settings, principal: Principal, level: str,
            **fixed: str) -> Response:
    params = list(request.query_params.multi_items()) + list(fixed.items())
    found = service.search(session=session, principal=principal, level=level, params=params, base=_base(settings))
    headers = dict(NO_STORE)
    if found.ignored:
        headers["Warning"] = f'299 yunying "not supported, ignored: {", ".join(found.ignored)}"'
    return JSONResponse(found.body, media_type=DICOM_JSON, headers=headers)


@router.get("/studies", summary="QIDO-RS: search studies")
def search_studies(request: Request, principal: DicomwebPrincipal, session: SessionDep,
                   settings: SettingsDep) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, session, settings, principal, "study")


@router.get("/series", summary="QIDO-RS: search series")
def search_all_series(request: Request, principal: DicomwebPrincipal, session: SessionDep,
                      settings: SettingsDep) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, session, settings, principal, "series")


@router.get("/instances", summary="QIDO-RS: search instances")
def search_all_instances(request: Request, principal: DicomwebPrincipal, session: SessionDep,
                         settings: SettingsDep) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, session, settings, principal, "instance")


@router.get("/studies/{study}/series", summary="QIDO-RS: search a study's series")
def search_series(study: str, request: Request, principal: DicomwebPrincipal, session: SessionDep,
                  settings: SettingsDep) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, session, settings, principal, "series", StudyInstanceUID=study)


@router.get("/studies/{study}/instances", summary="QIDO-RS: search a study's instances")
def search_study_instances(study: str, request: Request, principal: DicomwebPrincipal, session: SessionDep,
                           settings: SettingsDep) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, session, settings, principal, "instance", StudyInstanceUID=study)


@router.get("/studies/{study}/series/{series}/instances", summary="QIDO-RS: search a series' instances")
def search_instances(study: str, series: str, request: Request, principal: DicomwebPrincipal, session: SessionDep,
                     settings: SettingsDep) -> Response:
    """For a doctor's share session the results are masked as on the share page, and masked attributes
    (name, patient ID, birth date …) cannot be matched (ignored with a Warning)."""
    return _search(request, session, settings, principal, "instance", StudyInstanceUID=study, SeriesInstanceUID=series)


# -- WADO-RS (PS3.18 §10.4) ---------------------------------------------------------------------------
def _retrieve(request: Request, session: Session, blobs: ObjectStore, principal: Principal, study: str,
              series: str | None = None, instance: str | None = None) -> Response:
    # Original files only where the share allows downloads — asked before the study is looked at.
    originals.require_originals(session=session, principal=principal)
    wado.check_accept_dicom(request.headers.get("accept"))
    selected = service.select(session=session, principal=principal, event="dicom.wado", study=study, series=series,
                              instance=instance)
    boundary = wado.new_boundary()
    stream = wado.multipart_stream(blobs=blobs, instances=[i for i, _ in selected.instances], boundary=boundary)
    media = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return StreamingResponse(stream, media_type=media, headers=NO_STORE)


def _metadata(session: Session, blobs: ObjectStore, principal: Principal, study: str, series: str | None = None,
              instance: str | None = None) -> Response:
    selected = service.select(session=session, principal=principal, event="dicom.wado_metadata", study=study,
                              series=series, instance=instance)
    return JSONResponse(service.metadata(blobs=blobs, principal=principal, selected=selected),
                        media_type=DICOM_JSON, headers=NO_STORE)


@router.get("/studies/{study}", summary="WADO-RS: retrieve a study")
def retrieve_study(study: str, request: Request, principal: DicomwebPrincipal,
                   session: SessionDep, blobs: BlobsDep) -> Response:
    """Original Part-10 instances (multipart/related). A doctor's share session gets them only when the
    patient allowed downloads (else 403, asked before the study is looked at); a hospital reads back
    what it uploaded."""
    return _retrieve(request, session, blobs, principal, study)


@router.get("/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series")
def retrieve_series(study: str, series: str, request: Request, principal: DicomwebPrincipal,
                    session: SessionDep, blobs: BlobsDep) -> Response:
    """Original Part-10 instances (multipart/related). A doctor's share session gets them only when the
    patient allowed downloads (else 403, asked before the study is looked at); a hospital reads back
    what it uploaded."""
    return _retrieve(request, session, blobs, principal, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}", summary="WADO-RS: retrieve an instance")
def retrieve_instance(study: str, series: str, instance: str, request: Request, principal: DicomwebPrincipal,
                      session: SessionDep, blobs: BlobsDep) -> Response:
    """Original Part-10 instances (multipart/related). A doctor's share session gets them only when the
    patient allowed downloads (else 403, asked before the study is looked at); a hospital reads back
    what it uploaded."""
    return _retrieve(request, session, blobs, principal, study, series, instance)


@router.get("/studies/{study}/metadata", summary="WADO-RS: study metadata")
def study_metadata(study: str, principal: DicomwebPrincipal, session: SessionDep,
                   blobs: BlobsDep) -> Response:
    """DICOM JSON of the stored headers (no bulk data). For a doctor's share session the patient's identity
    is masked as on the share page (name, resident IDs, phone, address …: backend/sharing/masking.py)."""
    return _metadata(session, blobs, principal, study)


@router.get("/studies/{study}/series/{series}/metadata", summary="WADO-RS: series metadata")
def series_metadata(study: str, series: str, principal: DicomwebPrincipal, session: SessionDep,
                    blobs: BlobsDep) -> Response:
    """DICOM JSON of the stored headers (no bulk data). For a doctor's share session the patient's identity
    is masked as on the share page (name, resident IDs, phone, address …: backend/sharing/masking.py)."""
    return _metadata(session, blobs, principal, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}/metadata", summary="WADO-RS: instance metadata")
def instance_metadata(study: str, series: str, instance: str, principal: DicomwebPrincipal, session: SessionDep,
                      blobs: BlobsDep) -> Response:
    """DICOM JSON of the stored headers (no bulk data). For a doctor's share session the patient's identity
    is masked as on the share page (name, resident IDs, phone, address …: backend/sharing/masking.py)."""
    return _metadata(session, blobs, principal, study, series, instance)
