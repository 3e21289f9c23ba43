"""The renderer's URL fetcher: data: images and bundled files only, everything else raises."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from backend.pdf import assets

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


def test_data_uri_images_are_served() -> None:
    uri = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    assert assets.fetch_resource(uri) == {"string": PNG_1PX, "mime_type": "image/png"}
    assert assets.fetch_resource("data:image/svg+xml;charset=utf-8,%3Csvg%2F%3E")["string"] == b"<svg/>"


@pytest.mark.parametrize(
    "url",
    [
        "data:text/html,<script>alert(1)</script>",
        "data:text/css,@import url(file:///etc/passwd)",
        "data:application/pdf;base64,JVBERi0=",
        "data:image/png;base64",  # no comma
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "file://evil.example/share/x.css",
        "file:reports/print.css",  # relative: resolved against the working directory
        "http://127.0.0.1:9/x.png",
        "https://example.com/x.css",
        "ftp://example.com/x",
        "javascript:alert(1)",
        "/etc/passwd",
        "",
    ],
)
def test_everything_else_is_refused(url: str) -> None:
    with pytest.raises(assets.ResourceRefused):
        assets.fetch_resource(url)


def test_bundled_assets_are_served_and_traversal_is_not() -> None:
    css = assets.fetch_resource((assets.REPORTS_DIR / "print.css").as_uri())
    assert css["mime_type"] == "text/css" and b"@font-face" in css["string"]
    font = assets.fetch_resource((assets.FONTS_DIR / "YunyingSansSC-Regular.woff2").as_uri())
    assert font["string"][:4] == b"OTTO"  # served decompressed: WeasyPrint need not redo it per render
    for url in (
        assets.base_url() + "../pyproject.toml",
        assets.base_url() + "%2e%2e/pyproject.toml",
        assets.base_url() + "fonts/../../backend/pdf/assets.py",
        assets.base_url() + "imaging_report.html",  # a template is not an asset
        assets.base_url() + "fonts/OFL.txt",
        assets.base_url() + "print.css?x=1",
    ):
        with pytest.raises(assets.ResourceRefused):
            assets.fetch_resource(url)


def test_oversized_data_uri_is_refused() -> None:
    big = "A" * (assets.MAX_DATA_URI_BYTES * 2)
    with pytest.raises(assets.ResourceRefused, match="too large"):
        assets.fetch_resource("data:image/png;base64," + big)


def test_recording_fetcher_notes_refusals() -> None:
    refused: list[str] = []
    fetch = assets.recording_fetcher(refused)
    with pytest.raises(assets.ResourceRefused):
        fetch("file:///etc/passwd")
    assert refused == ["file:///etc/passwd"]


def test_checkout_path_with_spaces_and_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "my projects" / "云影" / "reports"
    root.mkdir(parents=True)
    (root / "print.css").write_text("p {}", encoding="utf-8")
    monkeypatch.setattr(assets, "REPORTS_DIR", root)
    url = assets.base_url() + "print.css"
    assert "%20" in url  # percent-encoded, as WeasyPrint will join it
    assert assets.fetch_resource(url)["string"] == b"p {}"
