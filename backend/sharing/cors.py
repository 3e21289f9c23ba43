"""CORS for DICOMweb: a browser DICOMweb viewer (e.g. OHIF) served from the platform's own origin —
``settings.public_url`` and nothing else — may call ``/dicomweb`` with the share-session cookie
(``credentials: include``). Other paths are untouched: the PWA is same-origin.

Fetch standard (CORS protocol): with credentials, ``Access-Control-Allow-Origin`` must name the
origin (never ``*``) and ``Access-Control-Allow-Credentials: true`` must be sent.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.config import Settings

PREFIX = "/dicomweb"


def viewer_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


class DicomwebCors:
    """Starlette's CORS middleware, applied only below ``/dicomweb``."""

    def __init__(self, app: ASGIApp, *, origin: str) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app, allow_origins=[origin], allow_credentials=True, allow_methods=["GET", "HEAD", "OPTIONS"],
            allow_headers=["Accept", "Content-Type", "Authorization"], expose_headers=["Content-Type", "Warning"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(DicomwebCors, origin=viewer_origin(settings))
