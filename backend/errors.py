"""Typed application errors, rendered by one handler as ``application/problem+json`` (RFC 9457).

Services raise these (they never import FastAPI); the handlers in :func:`install_handlers` turn them,
validation errors and unknown routes into problem documents. Nothing internal (stack traces, SQL,
file paths) reaches the client: an unexpected exception is logged with its type only and answered
with a generic 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.text import Text

log = logging.getLogger("yunying.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://yunying.cn/problems/"


class AppError(Exception):
    """Base of every error a client may see. ``code`` becomes the problem ``type`` slug.

    Every error speaks both languages (Chinese first): ``detail`` is the English text, ``zh`` the
    Chinese one (without a specific one, the class's Chinese title). The problem body carries both as
    ``message: {zh, en}`` and the slug as ``code``, so a client picks its language without parsing text.
    """

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"
    title_zh: str = "请求有误"

    def __init__(self, detail: str | None = None, *, zh: str | None = None, code: str | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.zh = zh
        if code:
            self.code = code
        self.extra = extra
        self.headers: dict[str, str] = {}

    @property
    def message(self) -> Text:
        return Text(zh=self.zh or self.title_zh, en=self.detail)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "message": self.message.as_dict(),
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(AppError):
    status, code, title = 400, "bad-request", "Bad request"
    title_zh = "请求有误"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Authentication required"
    title_zh = "请先登录"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"
    title_zh = "无权进行此操作"


class NotFound(AppError):
    status, code, title = 404, "not-found", "Not found"
    title_zh = "未找到"


class MethodNotAllowed(AppError):
    status, code, title = 405, "method-not-allowed", "Method not allowed"
    title_zh = "不支持此操作"


class NotAcceptable(AppError):
    status, code, title = 406, "not-acceptable", "Not acceptable"
    title_zh = "无法提供所需的格式"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"
    title_zh = "与现有数据冲突"


class Gone(AppError):
    status, code, title = 410, "gone", "Gone"
    title_zh = "已失效"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload-too-large", "Payload too large"
    title_zh = "请求内容过大"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"
    title_zh = "不支持的内容类型"


class Unprocessable(AppError):
    status, code, title = 422, "unprocessable", "Unprocessable content"
    title_zh = "请求内容无法处理"


class TooManyRequests(AppError):
    status, code, title = 429, "too-many-requests", "Too many requests"
    title_zh = "请求过于频繁，请稍后再试"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service-unavailable", "Service unavailable"
    title_zh = "服务暂时不可用，请稍后再试"


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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Type only: exception messages can carry PHI (a patient name in a DICOM value, say).
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        error = AppError("An internal error occurred; it has been logged.",
                         zh="服务器内部错误，已记录", code="internal")
        error.status, error.title = 500, "Internal server error"
        return problem_response(error, instance=request.url.path)
