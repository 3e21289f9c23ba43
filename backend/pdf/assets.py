"""The only resources a PDF may load: ``data:`` images and the files bundled in ``reports/``.

WeasyPrint fetches every URL it meets in HTML and CSS (images, stylesheets, ``@import``,
``@font-face``, ``<link rel=attachment>``) through one ``url_fetcher``. Its default one opens
``file://`` anywhere and any http(s) URL, following redirects — so a report text that slipped
through escaping could exfiltrate ``/etc/passwd`` into the PDF or make the server call out. This
fetcher is the last line of defence behind autoescaping: it raises for everything except

- ``data:`` URIs of raster/SVG image types (the key images and the QR code), size-capped;
- ``file:`` URLs whose path, after resolving ``..`` and symlinks, lies inside ``reports/`` and has
  an asset extension (the print CSS and the bundled font).

It never touches the network, so there is nothing to redirect.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

from fontTools.ttLib import woff2

# The repository's reports/ folder, found from this file (never a machine path).
REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports"
FONTS_DIR = REPORTS_DIR / "fonts"

MAX_DATA_URI_BYTES = 8 * 1024 * 1024
DATA_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/svg+xml"})
ASSET_MEDIA_TYPES = {".css": "text/css", ".woff2": "font/otf", ".svg": "image/svg+xml", ".png": "image/png"}

FetchResult = dict[str, Any]
UrlFetcher = Callable[[str], FetchResult]


class ResourceRefused(ValueError):
    """A URL the PDF renderer must not load."""


def base_url() -> str:
    """Base URL of the templates: relative links in them resolve to files in ``reports/``."""
    return REPORTS_DIR.as_uri() + "/"


def parse_data_uri(url: str) -> tuple[str, bytes]:
    """RFC 2397 ``data:[<mediatype>][;base64],<data>`` → (media type, bytes), image types only."""
    header, sep, payload = url[len("data:") :].partition(",")
    if not sep:
        raise ResourceRefused("malformed data: URI")
    params = [p.strip() for p in header.split(";")]
    media_type = params[0].lower() or "text/plain"
    if media_type not in DATA_MEDIA_TYPES:
        raise ResourceRefused(f"data: URI of type {media_type!r} is not allowed")
    if len(payload) > MAX_DATA_URI_BYTES * 4 // 3 + 4:
        raise ResourceRefused("data: URI too large")
    raw = unquote_to_bytes(payload)
    if "base64" in (p.lower() for p in params[1:]):
        try:
            raw = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ResourceRefused("malformed base64 in data: URI") from exc
    if len(raw) > MAX_DATA_URI_BYTES:
        raise ResourceRefused("data: URI too large")
    return media_type, raw


def bundled_asset_path(url: str) -> Path:
    """The file inside ``reports/`` that a ``file:`` URL names, or ResourceRefused."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query:
        raise ResourceRefused("only local files without query are considered")
    if not parts.path.startswith("/"):
        raise ResourceRefused("file: URL must be absolute")
    # resolve() follows symlinks and removes "..": the check is on the real file, so neither a
    # symlink planted in reports/ nor an encoded "%2e%2e/" can lead outside it.
    path = Path(url2pathname(parts.path)).resolve()
    root = REPORTS_DIR.resolve()
    if not path.is_relative_to(root):
        raise ResourceRefused("file outside the bundled reports/ assets")
    if path.suffix not in ASSET_MEDIA_TYPES or not path.is_file():
        raise ResourceRefused("not a bundled asset")
    return path


@lru_cache(maxsize=8)
def _font_bytes(path: Path, mtime_ns: int) -> bytes:
    """Decompressed WOFF2 → OpenType, once per process (WeasyPrint would redo it on every render)."""
    out = io.BytesIO()
    with path.open("rb") as handle:
        woff2.decompress(handle, out)
    return out.getvalue()


def fetch_resource(url: str) -> FetchResult:
    """WeasyPrint ``url_fetcher``: returns ``{"string", "mime_type"}`` or raises ResourceRefused."""
    if url[:5].lower() == "data:":
        media_type, raw = parse_data_uri(url)
        return {"string": raw, "mime_type": media_type}
    if url[:5].lower() != "file:":
        raise ResourceRefused(f"scheme not allowed: {url[:16]!r}")
    path = bundled_asset_path(url)
    if path.suffix == ".woff2":
        data = _font_bytes(path, path.stat().st_mtime_ns)
    else:
        data = path.read_bytes()
    return {"string": data, "mime_type": ASSET_MEDIA_TYPES[path.suffix]}


def recording_fetcher(refused: list[str]) -> UrlFetcher:
    """``fetch_resource`` that also notes each refused URL (WeasyPrint swallows fetch errors)."""

    def fetch(url: str) -> FetchResult:
        try:
            return fetch_resource(url)
        except ResourceRefused:
            refused.append(url)
            raise

    return fetch
