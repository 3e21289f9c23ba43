"""Pure ASGI middleware: request facts for the audit log, and the headers every answer carries.

- ``Referrer-Policy: no-referrer`` everywhere: share tokens travel in URLs (DESIGN rule 5).
- ``Cache-Control: no-store`` unless the route chose its own (content-addressed previews do).
- A strict Content-Security-Policy, ``nosniff``, and no framing.
"""

from __future__ import annotations

import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.access.context import RequestMeta, reset_request, set_request

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


def _client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, secure: bool = False) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = uuid.uuid4().hex
        meta = RequestMeta(
            request_id=request_id,
            network_address=_client_address(scope),
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
            await self.app(scope, receive, send_with_headers)
        finally:
            reset_request(token)
