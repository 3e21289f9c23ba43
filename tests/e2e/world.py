"""A patient of its own for one language run of tests/e2e/bilingual.test.mjs, so that the run neither
depends on nor disturbs the demo persons the other browser tests use.

``python -m tests.e2e.world setup TAG`` (prints one JSON object): a hospital, a person registered there,
an account bound to the person (as the demo binds its own), a synthetic chest X-ray whose report advises
"3个月后复查" (a follow-up reminder that is due), a checkup with conclusions, and an unbound relative's
account. ``python -m tests.e2e.world followup TAG KEY``: the follow-up chest X-ray arrives (the reminder is
done). Hospital data goes through the live server's hospital API (STOW-RS, report and checkup PUTs);
only accounts and the institution are made directly, as ``yunying demo seed`` and ``yunying institution
create`` make them. Reads the same settings as the server (run.sh exports them) and E2E_BASE_URL.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import httpx
from sqlmodel import select

from backend.auth.demo import bind, ensure_account, ensure_person
from backend.cli_support import engine_or_exit, settings_or_exit
from backend.clock import CST, utcnow
from backend.db import session_scope
from backend.institutions.service import create_institution
from backend.people.resident_id import generate_resident_id
from backend.studies.models import Study
from tests.checkups.test_checkups import checkup
from tests.ingest.test_stow import content_type, multipart_body
from tests.records.helpers import report_body
from tools import synthetic

BASE = os.environ.get("E2E_BASE_URL", "http://127.0.0.1:8000")
LOCAL_ID = "E2E0001"
# Relative to today: the advice (3 months) fell due a month ago, and the app shows reminders of the last
# two years only; the follow-up X-ray came 110 days after the first.
FIRST = datetime.combine(utcnow().astimezone(CST).date() - timedelta(days=120), time(9, 0), tzinfo=CST)
NAMES = {"zh": ("赵敏", "Zhao^Min", 11), "en": ("孙悦", "Sun^Yue", 12)}  # the person of each run


def _hospital_name(tag: str) -> str:
    return f"云影测试医院{tag.upper()}"


def _upload_cr(client: httpx.Client, key: str, tag: str, *, when: datetime, accession: str, seed: int) -> None:
    name, alphabetic, _ = NAMES[tag]
    patient = synthetic.SyntheticPatient(name_zh=name, name_alphabetic=alphabetic, patient_id=LOCAL_ID, sex="F",
                                         birth_date=date(1970, 6, 1), resident_id=None)
    study = synthetic.SyntheticStudy(study_datetime=when, accession_number=accession,
                                     institution_name=_hospital_name(tag), description="胸部正位片")
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic.write_chest_cr(out_dir=Path(tmp), seed=seed, rows=512, columns=512, patient=patient,
                                        study=study)
        body = multipart_body([path.read_bytes()])
    r = client.post(f"{BASE}/dicomweb/studies", content=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": content_type()})
    r.raise_for_status()


def setup(tag: str) -> dict[str, str]:
    settings = settings_or_exit()
    engine = engine_or_exit(settings)
    name, _, sequence = NAMES[tag]
    resident_id = generate_resident_id(region_code="320106", birth_date=date(1970, 6, 1), sex="F", sequence=sequence)
    with session_scope(engine) as s:
        issued = create_institution(session=s, name=_hospital_name(tag))
        person = ensure_person(s, settings=settings, name=name, resident_id=resident_id, phone=None)
        bind(s, account=ensure_account(s, openid=f"e2e-{tag}-patient", nickname=f"{name}（测试）"), person=person)
        ensure_account(s, openid=f"e2e-{tag}-relative", nickname="家属（测试）")
        person_id = person.id
    key = issued.api_key
    with httpx.Client(timeout=60) as c:
        headers = {"Authorization": f"Bearer {key}"}
        c.put(f"{BASE}/api/v1/institution/patients/{LOCAL_ID}", headers=headers,
              json={"resident_id": resident_id, "name": name}).raise_for_status()
        _upload_cr(c, key, tag, when=FIRST, accession=f"E2E-{tag}-1", seed=31)
        c.put(f"{BASE}/api/v1/institution/reports/E2E-{tag}-1", headers=headers, json=report_body(
            exam_items=["胸部正位片"], reported_at=(FIRST + timedelta(hours=6)).isoformat(),
            findings="双肺纹理增多，右肺上叶见一小结节，直径约4mm，边界清楚。心影不大，双侧肋膈角锐利。",
            impression="右肺上叶小结节，建议3个月后复查。")).raise_for_status()
        panel = {**checkup()["lab_panels"][0], "local_patient_id": LOCAL_ID, "report_id": f"E2E-{tag}-LAB"}
        c.put(f"{BASE}/api/v1/institution/checkups/E2E-{tag}-TJ", headers=headers,
              json=checkup(local_patient_id=LOCAL_ID, lab_panels=[panel])).raise_for_status()
    with session_scope(engine, readonly=True) as s:
        study_id = s.exec(select(Study.id).where(Study.accession_number == f"E2E-{tag}-1")).one()
    return {"person_id": person_id, "study_id": study_id, "patient": f"e2e-{tag}-patient",
            "relative": f"e2e-{tag}-relative", "name": name, "hospital_key": key}


def followup(tag: str, key: str) -> dict[str, str]:
    """The same hospital sends the follow-up chest X-ray (``key``: its API key from ``setup``)."""
    with httpx.Client(timeout=60) as c:
        _upload_cr(c, key, tag, when=FIRST + timedelta(days=110), accession=f"E2E-{tag}-2", seed=32)
    return {"followup": f"E2E-{tag}-2"}


if __name__ == "__main__":
    command, tag = sys.argv[1], sys.argv[2]
    print(json.dumps(setup(tag) if command == "setup" else followup(tag, sys.argv[3]), ensure_ascii=False))
