"""Hospital timestamps at the calendar's edges: converting 0001-01-01 (CST) or 9999-12-31 (UTC-14) to UTC
overflows. Such a timestamp is not a plausible record time: 422 problem+json, not an OverflowError 500,
and nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.checkups.test_checkups import checkup
from tests.labs.test_labs import panel
from tests.records.helpers import hospital, report_body

EDGES = ["0001-01-01T00:00:00", "0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
         "1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z"]


def _put(client: httpx.Client, key: dict[str, str], url: str, body: dict[str, Any]) -> httpx.Response:
    return client.put(url, headers=key, json=body)


@pytest.mark.parametrize("value", EDGES)
def test_edge_timestamps_are_422(client: httpx.Client, engine: Engine, value: str) -> None:
    _, key = hospital(engine, "南京市第一医院")
    cases = [
        ("/api/v1/institution/reports/A1", report_body(local_patient_id="P1", reported_at=value)),
        ("/api/v1/institution/lab-reports/L1", panel(reported_at=value)),
        ("/api/v1/institution/checkups/C1", checkup(exam_date=value)),
        ("/api/v1/institution/checkups/C2", checkup(reported_at=value)),
    ]
    for url, body in cases:
        res = _put(client, key, url, body)
        assert res.status_code == 422, (url, res.text[:300])
        assert res.headers["content-type"].startswith("application/problem+json")
        assert client.get(url, headers=key).status_code in (404, 405)  # nothing stored (GET: reports only)


def test_ordinary_timestamps_still_accepted(client: httpx.Client, engine: Engine) -> None:
    _, key = hospital(engine, "江苏省人民医院")
    assert _put(client, key, "/api/v1/institution/reports/A1",
                report_body(reported_at="1999-12-31T23:59:59")).status_code == 201
    assert _put(client, key, "/api/v1/institution/lab-reports/L1", panel(reported_at="2024-03-02T10:15:00+08:00")
                ).status_code == 201
