"""Hostile bodies on the JSON API: a body over ``max_json_bytes`` is refused with 413 problem+json before
FastAPI buffers and parses it (DESIGN rule 3), whether its length is declared or it comes chunked.
STOW-RS (``/dicomweb/``) keeps its own, much larger streaming limits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from backend.config import Settings

LIMIT = 4096


@pytest.fixture
def small_client(settings: Settings, engine: Engine) -> Iterator[httpx.Client]:
    from fastapi.testclient import TestClient

    from backend.main import create_app

    app = create_app(settings.model_copy(update={"max_json_bytes": LIMIT}), engine=engine)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def _assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 413
    assert body["type"].endswith("/payload-too-large") or body["type"].endswith("/body-too-large")


def _json_of(size: int) -> bytes:
    head, tail = b'{"name":"', b'","resident_id":"320106196203150013"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def test_declared_length_over_the_limit_is_413(small_client: httpx.Client) -> None:
    res = small_client.post("/api/v1/me/binding/otp", content=_json_of(LIMIT + 1),
                            headers={"content-type": "application/json"})
    _assert_413(res)


def test_chunked_body_over_the_limit_is_413(small_client: httpx.Client) -> None:
    data = _json_of(LIMIT * 3)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    res = small_client.post("/api/v1/me/binding/otp", content=chunks(), headers={"content-type": "application/json"})
    _assert_413(res)


def test_wrong_content_type_does_not_bypass_the_limit(small_client: httpx.Client) -> None:
    res = small_client.post("/api/v1/me/binding/otp", content=b"x" * (LIMIT + 1),
                            headers={"content-type": "text/plain"})
    _assert_413(res)


def test_body_at_the_limit_is_read_normally(small_client: httpx.Client) -> None:
    # Exactly the limit: parsed, then refused for what it is (a name too long, no session), not for its size.
    res = small_client.post("/api/v1/me/binding/otp", content=_json_of(LIMIT),
                            headers={"content-type": "application/json"})
    assert res.status_code in (401, 403, 422), res.text[:300]
    assert res.headers["content-type"].startswith("application/problem+json")


def test_default_limit_is_enforced(client: httpx.Client, settings: Settings) -> None:
    res = client.post("/api/v1/me/binding/otp", content=_json_of(settings.max_json_bytes + 1),
                      headers={"content-type": "application/json"})
    _assert_413(res)


def test_stow_is_not_capped_by_the_json_limit(small_client: httpx.Client) -> None:
    # Over the JSON limit but STOW-RS: judged by STOW's own rules (here: no API key → 401), never 413.
    body = b"--XX\r\nContent-Type: application/dicom\r\n\r\n" + b"\0" * (LIMIT * 2) + b"\r\n--XX--\r\n"
    res = small_client.post("/dicomweb/studies", content=body,
                            headers={"content-type": 'multipart/related; type="application/dicom"; boundary=XX'})
    assert res.status_code != 413
    assert 400 <= res.status_code < 500
