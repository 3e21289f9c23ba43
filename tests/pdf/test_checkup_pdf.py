"""The checkup PDF (issue 19 item 6: "checkups get a PDF too"): rendered like the report PDF, in the
bundled font, zh by default and English on request, with a verification code that /v accepts; read
under the checkup's own access decision (a stranger and a relative whose scope leaves out checkups get
404), audited, and shown as page images for WeChat's browser."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from backend.family.models import SCOPE_KINDS
from tests.checkups.test_checkups import checkup
from tests.family import helpers as fam
from tests.pdf import poppler
from tests.pdf.test_router import _events
from tests.records.helpers import WANG_FANG, ZHANG_WEI, hospital, read_as, register


def test_checkup_pdf_zh_en_verify_pages_and_the_access_decision(client: httpx.Client, app: FastAPI, engine: Engine,
                                                                tmp_path: Path) -> None:
    poppler.require_poppler()
    _, key = hospital(engine, "江苏省人民医院健康管理中心")
    r = client.put("/api/v1/institution/checkups/TJ-2024-1", headers=key, json=checkup())
    checkup_id = r.json()["id"]
    person = register(client, key, "T1", ZHANG_WEI, "张伟")
    other = register(client, key, "T2", WANG_FANG, "王芳")
    url = f"/api/v1/people/{person}/checkups/{checkup_id}/report.pdf"
    read_as(app, engine, person)

    zh = client.get(url)
    assert zh.status_code == 200 and zh.headers["content-type"] == "application/pdf"
    assert zh.headers["cache-control"] == "no-store"
    assert "%E4%BD%93%E6%A3%80%E6%8A%A5%E5%91%8A" in zh.headers["content-disposition"]  # 体检报告 in the name
    text = poppler.text(poppler.write(tmp_path, zh.content))
    for words in ("健康体检报告", "中老年男性体检套餐", "主检结论", "血压偏高", "低盐饮食，监测血压", "148/92",
                  "体检生化", "空腹血糖", "主检医师", "陈静"):
        assert words in text, words
    fonts = poppler.fonts(poppler.write(tmp_path, zh.content))  # only the bundled font, embedded: no tofu
    assert fonts and {f.name.split("+", 1)[1] for f in fonts} <= {"Yunying-Sans-SC", "Yunying-Sans-SC-Bold"}, fonts
    code = next(line for line in text.splitlines() if "/v/" in line).split("/v/")[1].strip()
    assert "中老年男性体检套餐" in client.get(f"/v/{code}").text

    en = client.get(url, params={"lang": "en"})
    en_text = poppler.text(poppler.write(tmp_path, en.content, name="en.pdf"))
    assert "Health Checkup Report" in en_text and "Conclusions" in en_text and "健康体检报告" not in en_text

    pages = client.get(f"/api/v1/people/{person}/checkups/{checkup_id}/report/pages").json()
    assert pages["count"] >= 1
    png = client.get(pages["pages"][0])
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert {e["object_id"] for e in _events(engine, person, "checkup.report.pdf")} == {checkup_id}
    assert _events(engine, person, "checkup.report.page")

    # Someone else's id, and a record id under the wrong person: the same 404 as a missing one.
    assert client.get(url.replace(person, other)).status_code == 404
    assert client.get(url.replace(checkup_id, "nope")).status_code == 404
    assert client.get(f"/api/v1/people/{other}/checkups/{checkup_id}/report/pages/1.png").status_code == 404


def test_a_relative_sees_the_checkup_pdf_only_when_the_grant_covers_checkups(
        client: httpx.Client, engine: Engine, settings: object) -> None:
    poppler.require_poppler()
    _, key = hospital(engine, "江苏省人民医院健康管理中心")
    checkup_id = client.put("/api/v1/institution/checkups/TJ-2024-1", headers=key, json=checkup()).json()["id"]
    person = register(client, key, "T1", ZHANG_WEI, "张伟")
    labs_only = fam.account(engine, "o-labs")
    both = fam.account(engine, "o-both")
    fam.grant(engine, person_id=person, account_id=labs_only, scope=SCOPE_KINDS, kinds="lab_result")
    fam.grant(engine, person_id=person, account_id=both, scope=SCOPE_KINDS, kinds="checkup")
    url = f"/api/v1/people/{person}/checkups/{checkup_id}/report.pdf"
    assert client.get(url, headers=fam.cookie_headers(engine, settings, labs_only)).status_code == 404  # type: ignore[arg-type]
    r = client.get(url, headers=fam.cookie_headers(engine, settings, both))  # type: ignore[arg-type]
    assert r.status_code == 200
    # Checkups but not lab results: the checkup prints without its lab panel.
    assert "体检生化" not in poppler.text(poppler.write(Path(settings.data_dir), r.content, name="rel.pdf"))  # type: ignore[attr-defined]
