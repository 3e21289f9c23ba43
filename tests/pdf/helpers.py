"""A patient with a real CT (3 slices, STOW-RS) and a report from the hospital's RIS, for the PDF route tests."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.ingest.test_stow import CT_3SLICE, stow
from tests.records.helpers import ZHANG_WEI, hospital, read_as, register, report_body

ACCESSION = "03086212"  # (0008,0050) of the dcmqi CT fixture; its PatientID is 99000
FINDINGS = "双肺纹理清晰，右肺上叶尖段见一磨玻璃结节，大小约6mm×5mm，边界清楚。\n纵隔居中，心影不大，未见胸腔积液。"
IMPRESSION = "右肺上叶磨玻璃结节，建议12个月后复查。"


@dataclass(frozen=True)
class World:
    person_id: str
    study_id: str
    institution_id: str
    key: dict[str, str]

    @property
    def pdf_url(self) -> str:
        return f"/api/v1/people/{self.person_id}/studies/{self.study_id}/report.pdf"


def put_report(client: httpx.Client, key: dict[str, str], **overrides: Any) -> httpx.Response:
    body = report_body(**{"findings": FINDINGS, "impression": IMPRESSION, **overrides})
    r = client.put(f"/api/v1/institution/reports/{ACCESSION}", headers=key, json=body)
    assert r.status_code in (200, 201), r.text
    return r


def ct_with_report(client: TestClient, app: FastAPI, engine: Engine, **report: Any) -> World:
    inst, key = hospital(engine, "南京市第一医院")
    status, _ = stow(client, key["Authorization"].removeprefix("Bearer "), [p.read_bytes() for p in CT_3SLICE])
    assert status == 200
    study_id = put_report(client, key, **report).json()["study_id"]
    assert study_id
    person = register(client, key, "99000", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    return World(person_id=person, study_id=study_id, institution_id=inst, key=key)


def code_of(text: str) -> str:
    """The verification code printed in a PDF's footer (grouped by four)."""
    match = re.search(r"(?:[A-Z2-7]{4}-){7}[A-Z2-7]{4}", text)
    assert match, "no verification code in the PDF text"
    return match.group(0)


def image_count(path: Path) -> int:
    lines = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True, text=True,
                           timeout=60).stdout.splitlines()
    return sum(1 for line in lines[2:] if line.split()[2] == "image")
