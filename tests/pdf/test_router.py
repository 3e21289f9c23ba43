"""Scenario: 张伟 downloads the report of his chest CT as a PDF, prints it, and a clinic checks the QR code.

Through the HTTP routes with a real CT (STOW-RS) and the report from the institution API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.access.models import AuditEvent
from backend.db import session_scope
from backend.pdf.models import PdfDocument
from tests.pdf import poppler
from tests.pdf.helpers import FINDINGS, IMPRESSION, ct_with_report, image_count, put_report
from tests.records.helpers import WANG_FANG, hospital, make_study, read_as, register


def _events(engine: Engine, person_id: str, event_type: str) -> list[dict[str, Any]]:
    """The details of the person's audit events of one type, oldest first."""
    with session_scope(engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.person_id == person_id, AuditEvent.event_type == event_type)
                      .order_by(col(AuditEvent.seq))).all()
        return [{"object_id": e.object_id, **json.loads(e.detail or "{}")} for e in rows]


def test_report_pdf_prints_the_findings_in_the_bundled_font(client: TestClient, app: FastAPI, engine: Engine,
                                                            tmp_path: Path) -> None:
    poppler.require_poppler()
    w = ct_with_report(client, app, engine)
    r = client.get(w.pdf_url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('inline; filename="')
    ascii_name = disposition.split('filename="')[1].split('"')[0]
    assert ascii_name.isascii() and ascii_name.endswith(".pdf")
    encoded = disposition.split("filename*=UTF-8''")[1]
    assert "%" in encoded and unquote(encoded) == "张伟_胸部CT平扫_20030417.pdf"

    path = poppler.write(tmp_path, r.content)
    text = poppler.text(path)
    for line in FINDINGS.splitlines():
        assert line in text
    assert IMPRESSION in text
    for fact in ("南京市第一医院", "检查所见", "诊断意见", "苏HR", "3201**********0013", "99000", "李明", "王强"):
        assert fact in text, fact
    fonts = poppler.fonts(path)
    # Only the bundled font (subset names "ABCDEF+Yunying-Sans-SC[-Bold]"), no system font.
    assert fonts and {f.name.split("+", 1)[1] for f in fonts} <= {"Yunying-Sans-SC", "Yunying-Sans-SC-Bold"}, fonts
    assert all(f.embedded and f.subset for f in fonts)
    assert image_count(path) == 3  # the 3-slice CT: every slice is a key image
    [event] = _events(engine, w.person_id, "study.report.pdf")
    assert (event["object_id"], event["cached"], event["version"]) == (w.study_id, False, 1)


def test_cache_hit_same_bytes_etag_and_304(client: TestClient, app: FastAPI, engine: Engine) -> None:
    w = ct_with_report(client, app, engine)
    first = client.get(w.pdf_url)
    again = client.get(w.pdf_url)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    etag = first.headers["etag"]
    assert etag == again.headers["etag"] and etag.startswith('"') and not etag.startswith('W/')
    not_modified = client.get(w.pdf_url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not not_modified.content
    other = client.get(w.pdf_url, headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200
    with session_scope(engine) as s:
        assert len(s.exec(select(PdfDocument)).all()) == 1
    events = _events(engine, w.person_id, "study.report.pdf")
    assert [e["cached"] for e in events] == [False, True, True, True]  # every read audited, 304 too

    download = client.get(w.pdf_url, params={"download": "true"})
    assert download.headers["content-disposition"].startswith("attachment; ")


def test_english_labels(client: TestClient, app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    poppler.require_poppler()
    w = ct_with_report(client, app, engine)
    zh = client.get(w.pdf_url)
    en = client.get(w.pdf_url, params={"lang": "en"})
    assert en.status_code == 200 and en.content != zh.content
    text = poppler.text(poppler.write(tmp_path, en.content))
    assert "Findings" in text and "Impression" in text and "检查所见" not in text
    assert IMPRESSION in text  # the report itself stays as the hospital wrote it
    assert client.get(w.pdf_url, params={"lang": "fr"}).status_code == 422


def test_study_without_report_and_other_people_are_404(client: TestClient, app: FastAPI, engine: Engine) -> None:
    w = ct_with_report(client, app, engine)
    from datetime import datetime, timedelta, timezone

    other_person = register(client, w.key, "P-WANG", WANG_FANG, "王芳")
    other_study = make_study(engine, institution_id=w.institution_id, uid="1.2.826.0.1.3680043.8.498.77",
                             local_patient_id="P-WANG", when=datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=8))))
    own_without = make_study(engine, institution_id=w.institution_id, uid="1.2.826.0.1.3680043.8.498.78",
                             local_patient_id="99000", when=datetime(2024, 1, 3, tzinfo=timezone(timedelta(hours=8))))
    r = client.get(f"/api/v1/people/{w.person_id}/studies/{own_without}/report.pdf")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("report-not-found")
    # Another person's study under my id, and my study under another person's id: both "no such thing".
    assert client.get(f"/api/v1/people/{w.person_id}/studies/{other_study}/report.pdf").status_code == 404
    assert client.get(f"/api/v1/people/{other_person}/studies/{w.study_id}/report.pdf").status_code == 404
    assert client.get(f"/api/v1/people/{other_person}/summary.pdf").status_code == 404
    assert _events(engine, other_person, "study.report.pdf") == []


def test_amended_report_renders_again_with_a_new_code(client: TestClient, app: FastAPI, engine: Engine,
                                                     tmp_path: Path) -> None:
    poppler.require_poppler()
    w = ct_with_report(client, app, engine)
    first = client.get(w.pdf_url)
    amended = "更正：右肺上叶磨玻璃结节，建议6个月后复查。"
    assert put_report(client, w.key, status="amended", impression=amended).json()["version"] == 2
    second = client.get(w.pdf_url)
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    old_text = poppler.text(poppler.write(tmp_path, first.content, "v1.pdf"))
    new_text = poppler.text(poppler.write(tmp_path, second.content, "v2.pdf"))
    assert amended in new_text and amended not in old_text
    with session_scope(engine) as s:
        rows = sorted(s.exec(select(PdfDocument)).all(), key=lambda d: d.version)
    assert [(d.version, d.report_status) for d in rows] == [(1, "final"), (2, "amended")]
    assert rows[0].id != rows[1].id and rows[0].content_hash != rows[1].content_hash
    assert [e["version"] for e in _events(engine, w.person_id, "study.report.pdf")] == [1, 2]


def test_lab_report_and_health_summary(client: TestClient, app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    poppler.require_poppler()
    _, key = hospital(engine, "江苏省人民医院")
    person = register(client, key, "L1", WANG_FANG, "王芳")
    lab = client.put("/api/v1/institution/lab-reports/LIS-1", headers=key, json={
        "local_patient_id": "L1", "panel_name": "血常规", "status": "final", "specimen": "全血",
        "collected_at": "2025-06-01T08:00:00+08:00", "reported_at": "2025-06-01T10:00:00+08:00",
        "items": [
            {"name": "白细胞计数", "code": "WBC", "value": "11.2", "unit": "×10⁹/L", "reference_range": "3.5-9.5",
             "flag": "H"},
            {"name": "血红蛋白", "code": "HGB", "value": "128", "unit": "g/L", "reference_range": "115-150"},
        ]})
    assert lab.status_code in (200, 201), lab.text
    read_as(app, engine, person)
    r = client.get(f"/api/v1/people/{person}/labs/{lab.json()['id']}/report.pdf")
    assert r.status_code == 200, r.text
    text = poppler.text(poppler.write(tmp_path, r.content, "lab.pdf"))
    assert "血常规" in text and "白细胞计数" in text and "11.2" in text and "3.5-9.5" in text
    assert unquote(r.headers["content-disposition"].split("UTF-8''")[1]) == "王芳_血常规_20250601.pdf"
    assert client.get(f"/api/v1/people/{person}/labs/nope/report.pdf").status_code == 404

    summary = client.get(f"/api/v1/people/{person}/summary.pdf")
    assert summary.status_code == 200, summary.text
    text = poppler.text(poppler.write(tmp_path, summary.content, "summary.pdf"))
    assert "2025" in text and "血常规" in text and "江苏省人民医院" in text
    assert len(_events(engine, person, "summary.pdf")) == 1
    assert len(_events(engine, person, "lab.report.pdf")) == 1


def test_summary_of_a_person_without_records(client: TestClient, app: FastAPI, engine: Engine,
                                             tmp_path: Path) -> None:
    poppler.require_poppler()
    _, key = hospital(engine, "江苏省人民医院")
    person = register(client, key, "E1", WANG_FANG, "王芳")
    read_as(app, engine, person)
    r = client.get(f"/api/v1/people/{person}/summary.pdf", params={"lang": "en"})
    assert r.status_code == 200, r.text
    text = poppler.text(poppler.write(tmp_path, r.content, "empty.pdf"))
    assert "王芳" in text and "3201**********0020" in text
    assert unquote(r.headers["content-disposition"].split("UTF-8''")[1]) == "王芳_health-summary.pdf"


def test_app_startup_warms_the_renderer_once_per_process(client: TestClient) -> None:
    from backend.pdf import router as pdf_router

    assert pdf_router._warm_up_started.is_set()  # set by the startup hook of the client's app


def test_report_pages_as_images_for_wechat(client: TestClient, app: FastAPI, engine: Engine) -> None:
    """Issue 19 item 6: the report's pages as PNG images (WeChat's browser blocks PDF downloads), through the
    same access decision as the PDF — another person's id is the same 404 — and audited."""
    poppler.require_poppler()
    w = ct_with_report(client, app, engine)
    base = w.pdf_url.replace("/report.pdf", "/report/pages")
    r = client.get(base)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["count"] >= 1 and len(body["pages"]) == body["count"]
    page = client.get(body["pages"][0])
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    assert page.content[:8] == b"\x89PNG\r\n\x1a\n" and page.headers["cache-control"] == "no-store"
    assert client.get(f"{base}/40.png").status_code == 404
    assert client.get(f"{base}/0.png").status_code == 422
    other = register(client, w.key, "P-WANG", WANG_FANG, "王芳")
    assert client.get(base.replace(w.person_id, other)).status_code == 404
    assert client.get(f"{base.replace(w.person_id, other)}/1.png").status_code == 404
    assert [e["object_id"] for e in _events(engine, w.person_id, "study.report.page")] == [w.study_id]
