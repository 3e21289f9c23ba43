"""The PWA's static files: gzip for clients that accept it, the exact bytes either way, and every
unknown app route answered with index.html (history mode)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi import Request
from starlette.datastructures import Headers

from backend.web.static import accepts_gzip, static_file


def _request(accept_encoding: str | None) -> Request:
    headers = [(b"accept-encoding", accept_encoding.encode())] if accept_encoding is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("identity", False),
        (None, False),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(_request(header)) is expected


def test_text_assets_are_gzipped_and_decode_to_the_file(tmp_path: Path) -> None:
    script = tmp_path / "app.js"
    script.write_text("console.log('云影');\n" * 200)
    response = static_file(script, _request("gzip"), cache_control="no-cache")
    headers = Headers(raw=response.raw_headers)
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(response.body) == script.read_bytes()


def test_images_and_small_files_are_served_as_they_are(tmp_path: Path) -> None:
    icon = tmp_path / "icon.png"
    icon.write_bytes(b"\x89PNG" + b"\0" * 4000)
    tiny = tmp_path / "tiny.js"
    tiny.write_text("1")
    for path in (icon, tiny):
        response = static_file(path, _request("gzip"), cache_control="no-cache")
        assert "content-encoding" not in Headers(raw=response.raw_headers)
