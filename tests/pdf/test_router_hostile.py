"""Scenario (issue 9, bad input): a hospital's RIS sends report text full of HTML, <script>, file://
links to a canary file and CSS @imports, plus findings as long as the API allows. Through the
institution API and the PDF route: escaped and inert, paged, the canary never in the PDF."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.pdf import poppler
from tests.pdf.helpers import ct_with_report
from tests.pdf.test_hostile import assert_canary_absent, hostile_text


def test_hostile_report_from_the_institution_api_gives_an_inert_pdf(client: TestClient, app: FastAPI,
                                                                     engine: Engine, tmp_path: Path) -> None:
    poppler.require_poppler()
    secret = f"CANARY-{uuid.uuid4().hex}"
    canary = tmp_path / "secret" / "canary.txt"
    canary.parent.mkdir()
    canary.write_text(f"{secret}\nbody {{ content: '{secret}' }}\n", encoding="utf-8")
    attack = hostile_text(canary)
    paragraph = "肝脏大小形态正常，表面光滑，各叶比例协调，肝实质密度均匀，未见异常密度影。"
    lines = [f"{i}. {paragraph}" for i in range(1, 400)]
    findings = attack + "\n" + "\n".join(lines)
    findings = findings[:19_900].rsplit("\n", 1)[0]  # the API's limit is 20,000 characters
    last_line = findings.rsplit("\n", 1)[1]
    w = ct_with_report(client, app, engine, findings=findings, impression=attack[:9000],
                       exam_items=["<b>上腹部CT</b><img src=" + canary.as_uri() + ">"],
                       reporting_physician="<script>x</script>")

    r = client.get(w.pdf_url)
    assert r.status_code == 200, r.text
    assert_canary_absent(r.content, secret, tmp_path)
    path = poppler.write(tmp_path, r.content, "route.pdf")
    text = poppler.text(path)
    # Escaped, so printed as the characters the hospital sent (WeasyPrint may break long lines).
    flat = "".join(text.split())
    assert "<script>alert('x')</script>" in flat and "<b>上腹部CT</b>" in flat
    assert "".join(last_line.split()) in flat  # the end of the long findings made it onto the paper
    pages = poppler.page_count(path)
    assert pages >= 5
    assert f"第{pages}页/共{pages}页" in flat  # the footer numbers every page, the last one too
