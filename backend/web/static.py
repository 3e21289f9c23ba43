"""Serving the built PWA: files as they are, gzip-compressed for clients that accept it.

Only the app's own static text files are compressed (scripts, styles, HTML, SVG, manifests), once per
file version, kept in memory: they are small, few and immutable. Health data is never compressed here
(it does not pass through this module), so compression cannot combine secrets with attacker-chosen text.
"""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

COMPRESSIBLE = {".js", ".mjs", ".css", ".html", ".svg", ".json", ".webmanifest", ".txt"}
MIN_SIZE = 1024
_cache: dict[Path, tuple[float, bytes]] = {}
_lock = threading.Lock()


def _gzipped(path: Path) -> bytes:
    mtime = path.stat().st_mtime
    with _lock:
        hit = _cache.get(path)
    if hit and hit[0] == mtime:
        return hit[1]
    data = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
    with _lock:
        _cache[path] = (mtime, data)
    return data


def accepts_gzip(request: Request) -> bool:
    """RFC 9110 §12.5.3: ``gzip`` listed with a non-zero quality."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() != "gzip":
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


def static_file(path: Path, request: Request, *, cache_control: str) -> Response:
    headers = {"Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if path.suffix in COMPRESSIBLE and path.stat().st_size >= MIN_SIZE and accepts_gzip(request):
        media_type = FileResponse(path).media_type
        return Response(_gzipped(path), media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(path, headers=headers)
