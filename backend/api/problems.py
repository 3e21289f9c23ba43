"""The one place errors become HTTP answers: ``application/problem+json`` (RFC 9457) for AppErrors
(backend/errors.py), request validation, unknown routes, values the database refuses, lost uniqueness
races, a part that is briefly gone (the database restarting, a full disk: 503 with Retry-After, issue 18),
and — type only, never a message that could carry PHI — anything unexpected (a generic 500).
"""

from __future__ import annotations

import errno
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api.db_retry import RETRYABLE
from backend.db import retryable
from backend.errors import (
    PROBLEM_JSON,
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)

log = logging.getLogger("yunying.errors")
DATABASE_RETRY_S = 5  # a PostgreSQL restart (fast shutdown) takes seconds; pool_pre_ping reconnects after it
DISK_RETRY_S = 60
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def problem_response(error: AppError, *, instance: str | None = None) -> JSONResponse:
    headers = {"Cache-Control": "no-store", **error.headers}
    return JSONResponse(
        error.to_problem(instance), status_code=error.status, media_type=PROBLEM_JSON, headers=headers
    )


def _validation_problem(exc: RequestValidationError) -> AppError:
    errors = []
    malformed_body = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            malformed_body = True
        # Only location, message and type: echoing "input" back could reflect sensitive data.
        errors.append({"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg"), "type": err.get("type")})
    if malformed_body:
        return BadRequest("The request body is not valid JSON.",
                          zh="请求内容不是有效的 JSON", code="malformed-json", errors=errors)
    return Unprocessable("The request does not match the expected shape.",
                         zh="请求格式不正确", code="validation", errors=errors)


_HTTP_STATUS_ERRORS: dict[int, type[AppError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    406: NotAcceptable,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(_validation_problem(exc), instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_STATUS_ERRORS.get(exc.status_code, AppError)
        detail = exc.detail if isinstance(exc.detail, str) else None
        error = cls(detail)
        if cls is AppError:
            error.status = exc.status_code
        error.headers = dict(exc.headers or {})
        return problem_response(error, instance=request.url.path)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # e.g. a NUL character in text: PostgreSQL refuses it, so the value came from the client.
        log.info("database refused a value on %s %s", request.method, request.url.path)
        error = BadRequest("The request contains a value the database cannot store.",
                           zh="请求中含有无法保存的内容", code="invalid-value")
        return problem_response(error, instance=request.url.path)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check uniqueness first; this is the race two concurrent writers can still lose.
        log.info("integrity conflict on %s %s", request.method, request.url.path)
        error = Conflict("The request conflicts with a concurrent change; retry it.",
                         zh="与同时进行的修改冲突，请重试", code="conflict")
        return problem_response(error, instance=request.url.path)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        # The connection failed or was cut (a restart, a failover): nothing was committed for this request,
        # so the client's retry is whole. Serialization failures and deadlocks are transient the same way.
        log.warning("database unavailable (%s) on %s %s", type(exc.orig).__name__, request.method, request.url.path)
        if retryable(exc):  # nothing of it committed: a read may run again on a fresh connection (db_retry.py)
            setattr(request.state, RETRYABLE, True)
        error = ServiceUnavailable("The database is briefly unavailable; retry shortly.",
                                   zh="数据库暂时不可用，请稍后再试", code="database-unavailable")
        error.headers = {"Retry-After": str(DATABASE_RETRY_S)}
        return problem_response(error, instance=request.url.path)

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every database connection of this node stayed busy for the pool's whole timeout: the node is
        # overloaded. A 503 the client may retry (and a load balancer may count), not a 500.
        log.warning("database pool exhausted on %s %s", request.method, request.url.path)
        error = ServiceUnavailable("The service is busy; retry shortly.", zh="服务繁忙，请稍后再试",
                                   code="busy")
        error.headers = {"Retry-After": str(DATABASE_RETRY_S)}
        return problem_response(error, instance=request.url.path)

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno in _DISK_FULL:
            # A node's disk is full (its request spool, a local store): PS3.4 A700 "Out of Resources" —
            # a 503 the hospital's gateway retries; what was acknowledged before stays whole.
            log.error("disk full on %s %s", request.method, request.url.path)
            error = ServiceUnavailable("The server is out of disk space; retry later.",
                                       zh="服务器存储空间不足，请稍后再试", code="out-of-resources")
            error.headers = {"Retry-After": str(DISK_RETRY_S)}
            return problem_response(error, instance=request.url.path)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Type only: exception messages can carry PHI (a patient name in a DICOM value, say).
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        error = AppError("An internal error occurred; it has been logged.",
                         zh="服务器内部错误，已记录", code="internal")
        error.status, error.title = 500, "Internal server error"
        return problem_response(error, instance=request.url.path)
