from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from backend.config import Settings


def test_healthz_ok_with_security_headers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_healthz_503_when_storage_is_read_only(client: TestClient, settings: Settings) -> None:
    assert client.get("/healthz").status_code == 200  # the store makes its temp directory on first write
    (settings.data_dir / "blobs" / ".tmp").chmod(0o500)
    try:
        response = client.get("/healthz")
    finally:
        (settings.data_dir / "blobs" / ".tmp").chmod(0o700)
    assert response.status_code == 503
    assert response.json()["storage"] == "error"


def test_healthz_503_when_storage_is_broken(client: TestClient, settings: Settings) -> None:
    # Replace the store's temp directory with a file: every write fails, as on a full or lost disk.
    assert client.get("/healthz").status_code == 200  # the store makes its temp directory on first write
    tmp = settings.data_dir / "blobs" / ".tmp"
    tmp.rmdir()
    tmp.write_text("in the way")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "ok", "storage": "error"}


def test_openapi_describes_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"].startswith("Yunying")
    assert "/healthz" in spec["paths"]
