"""Typed application errors, rendered by one handler as ``application/problem+json`` (RFC 9457).

Services raise these (they never import FastAPI); the handlers in ``backend/api/problems.py`` turn
them, validation errors and unknown routes into problem documents. Nothing internal (stack traces, SQL,
file paths) reaches the client: an unexpected exception is logged with its type only and answered
with a generic 500.
"""

from __future__ import annotations

from typing import Any

from backend.text import Text

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
