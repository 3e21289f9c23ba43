"""create_app(): settings, database, blob store, routers, middleware, error handlers, the PWA."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from backend import __version__, plugins
from backend.access import audit
from backend.api.db_retry import DatabaseRetry
from backend.api.problems import install_handlers
from backend.api.router import PRINCIPAL_RESOLVERS, include_routers
from backend.config import Settings, get_settings
from backend.db import make_engine
from backend.errors import NotFound
from backend.middleware import RequestContextMiddleware
from backend.previews.fastpath import PreviewFastPath
from backend.storage import nodecache
from backend.web.static import static_file

log = logging.getLogger("yunying")

PWA_DIST = Path(__file__).resolve().parents[1] / "pwa" / "dist"
# Paths the backend owns: never answered with the PWA's index.html.
BACKEND_PREFIXES = ("api/", "auth/", "dicomweb", "_sim/", "wechat/", "s/", "v/", "healthz", "openapi.json", "docs",
                    "redoc")

DESCRIPTION = """Yunying 云影: patients' imaging studies, reports, lab results and checkups from every
hospital of the province on one timeline. Errors are `application/problem+json` (RFC 9457)."""


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    plugins.install()
    # The API description and its browser are off in production unless YUNYING_API_DOCS=true: they map
    # every route for an attacker and serve a page that loads scripts from a CDN.
    docs = bool(settings.api_docs)
    app = FastAPI(
        title="Yunying 云影",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.effective_database_url)
    app.state.blobs = settings.storage.originals
    remote = (settings.storage_url or "").startswith("s3://")  # a local store is a disk already
    local_copy = settings.derived_cache_dir or (settings.data_dir / "derived-cache" if remote else None)
    nodecache.configure(directory=local_copy, megabytes=settings.derived_cache_mb)
    app.state.principal_resolvers = list(PRINCIPAL_RESOLVERS)
    audit.GROUP_COMMIT = settings.audit_group_commit  # one setting per process: every app of it shares it
    install_handlers(app)
    include_routers(app, settings)
    _mount_pwa(app)
    app.add_middleware(DatabaseRetry)  # innermost: replays a read the database restart cut off (db_retry.py)
    app.add_middleware(PreviewFastPath)  # inside RequestContextMiddleware: same headers, same request meta
    app.add_middleware(RequestContextMiddleware, secure=settings.public_url.startswith("https://"))
    return app


def _mount_pwa(app: FastAPI) -> None:
    """Serve the built PWA: real files as they are, every other app route as index.html (history mode)."""

    @app.get("/{path:path}", include_in_schema=False)
    def pwa(path: str, request: Request) -> Response:
        if path.startswith(BACKEND_PREFIXES):
            raise NotFound("No such resource.", zh="未找到")
        if not PWA_DIST.is_dir():
            raise NotFound("The app is not built: run `make install`.", code="pwa-not-built")
        candidate = (PWA_DIST / path).resolve()
        if path and PWA_DIST in candidate.parents and candidate.is_file():
            immutable = path.startswith("assets/")
            cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
            return static_file(candidate, request, cache_control=cache)
        return static_file(PWA_DIST / "index.html", request, cache_control="no-cache")
