"""Scenario: a clinic receives 张伟's printed report and checks its code at /v/{code} — no login.

Decision tested here: an amended report gets a new PDF and a new code; the earlier paper's code
still verifies — as the earlier version, with a notice that a newer version exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.access.models import AuditEvent
from backend.api.deps import get_principal
from backend.config import Settings
from backend.db import session_scope
from backend.pdf import router as pdf_router
from tests.pdf import poppler
from tests.pdf.helpers import code_of, ct_with_report, put_report


def _code(client: TestClient, url: str, tmp_path: Path, name: str = "r.pdf") -> str:
    return code_of(poppler.text(poppler.write(tmp_path, client.get(url).content, name)))


def test_printed_code_verifies_without_login(client: TestClient, app: FastAPI, engine: Engine,
                                             tmp_path: Path) -> None:
    poppler.require_poppler()
    w = ct_with_report(client, app, engine)
    code = _code(client, w.pdf_url, tmp_path)
    patient = app.dependency_overrides.pop(get_principal)  # the reader at the clinic is nobody
    page = client.get(f"/v/{code}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    html = page.text
    for fact in ("有效", "南京市第一医院", "胸部CT平扫", "2003-04-17", "张*", code):
        assert fact in html, fact
    # Nothing more than the key facts: no findings, impression, full name or ID digits.
    for secret in ("磨玻璃结节", "张伟", "0013", "99000", "李明"):
        assert secret not in html, secret
    # The code as people retype it from paper: lower case, no hyphens, 0/1/8 for O/I/B.
    assert client.get(f"/v/{code.replace('-', '').lower()}").status_code == 200
    english = client.get(f"/v/{code}", params={"lang": "en"})
    assert english.status_code == 200 and "Valid" in english.text and "有效" not in english.text
    assert "有效" in client.get(f"/v/{code}", params={"lang": "fr"}).text  # unknown language: Chinese, no 422
    with session_scope(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.event_type == "pdf.verify")
                        .order_by(col(AuditEvent.seq))).all()
    assert [(e.person_id, e.actor_kind) for e in events] == [(w.person_id, "anonymous")] * 4
    assert json.loads(events[0].detail or "{}")["version"] == 1
    # The patient sees in the access log that the paper was checked.
    app.dependency_overrides[get_principal] = patient
    log = client.get(f"/api/v1/people/{w.person_id}/access-log")
    assert log.status_code == 200, log.text
    checked = [i for i in log.json()["items"] if i["event_type"] == "pdf.verify"]
    assert len(checked) == 4
    assert {(i["object_type"], i["object_id"]) for i in checked} == {("imaging_study", w.study_id)}


GARBAGE = ["x", "AAAA", "0" * 32, "A" * 64, "%3Cscript%3E", "ZZZZ-ZZZZ-ZZZZ-ZZZZ" * 3,
           "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567", "..%2F..%2Fetc%2Fpasswd", "%FF%FE", "A" * 5000]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_codes_are_a_clear_404_page(client: TestClient, garbage: str) -> None:
    page = client.get(f"/v/{garbage}")
    assert page.status_code == 404, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "未找到或已被篡改" in page.text and "<script>" not in page.text


def test_a_nul_in_the_code_is_refused_at_the_edge(client: TestClient) -> None:
    # No paper code holds a NUL; the middleware refuses it before any route runs (tests/fuzz).
    page = client.get("/v/%00%FF")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("application/problem+json")


def test_altered_code_does_not_verify(client: TestClient, app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    poppler.require_poppler()
    w = ct_with_report(client, app, engine)
    code = _code(client, w.pdf_url, tmp_path).replace("-", "")
    for position in (0, 20, 31):  # the id half, the signature half, the last character
        swapped = "A" if code[position] != "A" else "B"
        altered = code[:position] + swapped + code[position + 1:]
        assert client.get(f"/v/{altered}").status_code == 404


def test_old_code_still_verifies_as_the_earlier_version(client: TestClient, app: FastAPI, engine: Engine,
                                                        tmp_path: Path) -> None:
    poppler.require_poppler()
    w = ct_with_report(client, app, engine)
    old = _code(client, w.pdf_url, tmp_path, "v1.pdf")
    put_report(client, w.key, status="amended", impression="更正：左肺下叶少许纤维灶。")
    new = _code(client, w.pdf_url, tmp_path, "v2.pdf")
    assert new != old
    old_page, new_page = client.get(f"/v/{old}"), client.get(f"/v/{new}")
    assert old_page.status_code == new_page.status_code == 200
    assert "已更正，当前最新为第 2 版" in old_page.text and "正式报告" in old_page.text
    assert "已更正" not in new_page.text and "更正报告" in new_page.text


def test_verification_is_rate_limited(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_router, "VERIFY_RATE_LIMIT", 3)
    assert [client.get(f"/v/x{i}").status_code for i in range(5)] == [404, 404, 404, 429, 429]
    limited = client.get("/v/x")
    assert "过于频繁" in limited.text and limited.headers["content-type"].startswith("text/html")


def test_rate_limit_is_shared_through_redis(settings: Settings, engine: Engine, redis_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Two app instances (two workers) count against one limit when Redis is configured."""
    from backend.main import create_app

    monkeypatch.setattr(pdf_router, "VERIFY_RATE_LIMIT", 3)
    shared = settings.model_copy(update={"redis_url": redis_url})
    with TestClient(create_app(shared, engine=engine)) as one, TestClient(create_app(shared, engine=engine)) as two:
        statuses = [c.get("/v/nothing").status_code for c in (one, two, one, two, one)]
    assert statuses == [404, 404, 404, 429, 429]
