"""Pure ASGI middleware: request facts for the audit log, and the headers every answer carries.

- ``Referrer-Policy: no-referrer`` everywhere: share tokens travel in URLs (DESIGN rule 5).
- ``Cache-Control: no-store`` unless the route chose its own (content-addressed previews do).
- A strict Content-Security-Policy, ``nosniff``, and no framing.
- Request bodies over ``settings.max_json_bytes`` are refused with 413 before anything buffers them
  (DESIGN rule 3: FastAPI reads a body whole into memory, whatever its content type); STOW-RS under
  ``/dicomweb/`` streams to disk under its own limits (``max_request_bytes``, ``max_instance_bytes``).
"""

from __future__ import annotations

import uuid

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.access.context import RequestMeta, reset_request, set_request
from backend.api.problems import problem_response
from backend.errors import BadRequest, PayloadTooLarge
from backend.proxies import client_address, proxy_request_id

CSP = (
    "default-src 'self'; script-src 'self' https://res.wx.qq.com; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self'; "
    "manifest-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": CSP,
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


# Routes that stream their bodies under their own limits instead of the JSON cap.
STREAMED_BODY_PREFIXES = ("/dicomweb/",)
DEFAULT_MAX_BODY = 1024 * 1024


def _body_limit(scope: Scope) -> int | None:
    """The body cap for this request, or None where the route streams (STOW-RS)."""
    path: str = scope.get("path") or ""
    if path.startswith(STREAMED_BODY_PREFIXES):
        return None
    # Starlette puts the application in the scope: its settings carry the configured cap.
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    return int(getattr(settings, "max_json_bytes", DEFAULT_MAX_BODY))


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"请求体过大 (request body over {limit} bytes).", code="body-too-large", max_bytes=limit)


def _capped_receive(receive: Receive, limit: int) -> Receive:
    """Counts the body as it arrives (chunked bodies declare no length) and stops past the cap.

    An HTTPException, not an AppError: FastAPI turns any other exception raised while reading a body
    into a generic 400; this one it lets through to the problem+json handler as a 413."""
    seen = 0

    async def receive_capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, detail=_too_large(limit).detail)
        return message

    return receive_capped


def _nul_in_url(scope: Scope) -> bool:
    """NUL in the path or query: no identifier, filter or token here contains it, and PostgreSQL refuses
    it in text parameters (a DataError, i.e. a 500) — so it is refused before any route sees it."""
    path: str = scope.get("path") or ""
    query: bytes = scope.get("query_string") or b""
    return "\x00" in path or b"%00" in query or b"\x00" in query


def _declared_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length", b"").strip()
    return int(raw) if raw.isdigit() else None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, secure: bool = False) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        # The front proxy's id when it is trusted: one id for the client's request across the nodes it was
        # sent to (a resend after a node died, proxies.py); else one of our own.
        request_id = proxy_request_id(scope) or uuid.uuid4().hex
        meta = RequestMeta(
            request_id=request_id,
            network_address=client_address(scope),  # behind a trusted proxy: X-Forwarded-For (proxies.py)
            user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:256] or None,
        )
        token = set_request(meta)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    out.setdefault(name, value)
                out.setdefault("cache-control", "no-store")
                out.setdefault("x-request-id", request_id)
                if self.secure:
                    out.setdefault("strict-transport-security", "max-age=31536000")
            await send(message)

        try:
            if _nul_in_url(scope):
                error = BadRequest("NUL in the URL.", zh="请求地址含有空字符", code="nul-character")
                await problem_response(error, instance=None)(scope, receive, send_with_headers)
                return
            limit = _body_limit(scope)
            if limit is not None:
                declared = _declared_length(headers)
                if declared is not None and declared > limit:
                    response = problem_response(_too_large(limit), instance=scope.get("path"))
                    await response(scope, receive, send_with_headers)
                    return
                receive = _capped_receive(receive, limit)
            await self.app(scope, receive, send_with_headers)
        finally:
            reset_request(token)
