"""A NUL character inside a JSON string: PostgreSQL cannot store it (SQLite can). Either way the answer
is never a 500 — stored as sent, or a 400 problem+json that names no SQL."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine

from tests.records.helpers import hospital, report_body


def test_nul_in_report_text_is_stored_or_refused_never_500(client: httpx.Client, engine: Engine,
                                                           database_backend: str) -> None:
    _, key = hospital(engine, "南京市第一医院")
    body = report_body()
    body["findings"] = "双肺纹理清晰\u0000。"
    res = client.put("/api/v1/institution/reports/NUL1", headers=key, json=body)
    if database_backend == "postgresql":
        assert res.status_code == 400, res.text[:300]
        assert res.headers["content-type"].startswith("application/problem+json")
        assert "INSERT" not in res.text and "UPDATE" not in res.text
    else:
        assert res.status_code in (200, 201), res.text[:300]
