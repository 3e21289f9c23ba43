"""Per-request facts the audit log records (network address, user agent, request id).

A middleware sets them; services read them without importing the web framework. Outside a request
(the CLI, background jobs) they are empty and the audit row says so.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestMeta:
    request_id: str | None = None
    network_address: str | None = None
    user_agent: str | None = None


_current: ContextVar[RequestMeta] = ContextVar("yunying_request_meta", default=RequestMeta())  # noqa: B039


def current_request() -> RequestMeta:
    return _current.get()


def set_request(meta: RequestMeta) -> object:
    return _current.set(meta)


def reset_request(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
