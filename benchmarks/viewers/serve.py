"""Serve Yunying plus a viewer candidate on ONE origin, for the doctor-viewer comparison only
(docs/doctor-viewer.md; run by benchmarks/bench_doctor.py, never by the product).

The share session is a cookie and the DICOMweb CORS rule admits only the platform's own origin, so a
browser viewer must be served from the platform's origin — as a hospital would put OHIF behind the same
reverse proxy. This wrapper does that in-process:

* ``--candidate DIR``: the built files of DIR under ``/bench-viewers/<name>/`` (the Cornerstone3D
  prototype), everything else to the app;
* ``--root DIR``: DIR at ``/`` (OHIF's prebuilt app expects to live at the root), the app's own paths
  (``/dicomweb``, ``/s/``, ``/api/``, ``/healthz``) to the app.

    python -m benchmarks.viewers.serve --port 8766 --candidate benchmarks/viewers/cornerstone/dist
"""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.main import create_app
from backend.web.static import static_file

APP_PATHS = ("/dicomweb", "/s/", "/api/", "/healthz", "/auth/", "/_sim/")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")


class Candidate:
    def __init__(self, app: ASGIApp, *, folder: Path, prefix: str, root: bool) -> None:
        self.app, self.folder, self.prefix, self.root = app, folder.resolve(), prefix, root

    def _file(self, path: str) -> Path | None:
        rel = path[len(self.prefix):].lstrip("/") if path.startswith(self.prefix) else None
        if rel is None:
            return None
        candidate = (self.folder / rel).resolve()
        if self.folder in candidate.parents and candidate.is_file():
            return candidate
        return self.folder / "index.html"  # single-page apps: their routes are index.html

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = str(scope["path"])
            mine = (not path.startswith(APP_PATHS)) if self.root else path.startswith(self.prefix)
            found = self._file(path) if mine else None
            if found is not None:
                # served like the PWA's own files (gzip -9 for scripts, as backend/web/static.py does)
                response: Response = static_file(found, Request(scope), cache_control="no-cache")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--candidate", type=Path)
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    app: ASGIApp = create_app()
    if args.candidate:
        app = Candidate(app, folder=args.candidate, prefix=f"/bench-viewers/{args.candidate.parent.name}/", root=False)
    if args.root:
        app = Candidate(app, folder=args.root, prefix="/", root=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, server_header=False)


if __name__ == "__main__":
    main()
