"""A NUL character (%00) in a URL's path or query reaches database queries as a parameter; PostgreSQL
refuses NUL in text ("cannot contain NUL (0x00) bytes") and the request became a 500 there (SQLite
accepted it). No identifier, filter or token of this service contains NUL: refuse it at the edge, 400."""

from __future__ import annotations

import httpx
import pytest

URLS = [
    "/api/v1/people/%00/timeline",
    "/api/v1/people/abc/timeline?kind=%00",
    "/api/v1/institution/reports/A%00",
    "/api/v1/invitations/%00",
    "/dicomweb/studies?PatientID=%00",
    "/v/%00",
    "/s/%00",
]


@pytest.mark.parametrize("url", URLS)
def test_nul_in_the_url_is_400_problem(client: httpx.Client, url: str) -> None:
    res = client.get(url)
    assert res.status_code == 400, res.text[:300]
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["type"].endswith("/nul-character")


def test_nul_in_a_put_path_is_400(client: httpx.Client) -> None:
    res = client.put("/api/v1/institution/reports/A%00", json={}, headers={"Authorization": "Bearer yyk_x"})
    assert res.status_code == 400, res.text[:300]


def test_ordinary_urls_pass(client: httpx.Client) -> None:
    assert client.get("/healthz?x=%01").status_code == 200
