"""A patient with two real CT studies (the dcmqi 3-slice CT, and the same slices re-identified as a
second study), a second patient with one, and the accounts around them — for the share tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from fastapi.testclient import TestClient
from pydicom.uid import generate_uid
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.config import Settings, load_settings
from backend.db import session_scope
from backend.studies.models import Study
from tests.conftest import DICOM
from tests.family import helpers as h

CT_3SLICE = sorted((DICOM / "dcmqi" / "ct-3slice").glob("*.dcm"))
PATIENT_ID = "99000"  # PatientID in the ct-3slice files
BOUNDARY = "yy-share-boundary"
REPORT: dict[str, Any] = {
    "status": "final", "exam_items": ["胸部CT平扫"], "findings": "双肺纹理清晰。", "impression": "未见明显异常。",
    "reporting_physician": "李明", "reported_at": "2024-03-02T10:15:00+08:00",
}
TOKEN_RE = re.compile(r"/s/(yys_[A-Za-z0-9_-]+)$")


def _multipart(parts: list[bytes]) -> bytes:
    out = bytearray()
    for data in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    return bytes(out + f"--{BOUNDARY}--\r\n".encode())


def ct_copy(*, patient_id: str, study_uid: str) -> list[bytes]:
    """The fixture CT as another study: new study/series/instance UIDs, the given PatientID."""
    import io

    series_uid = generate_uid()
    out = []
    for path in CT_3SLICE:
        ds = pydicom.dcmread(path)
        ds.PatientID = patient_id
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


@dataclass
class ShareWorld:
    client: Any
    engine: Engine
    settings: Settings
    inst: h.Hospital
    person_id: str = ""
    other_person_id: str = ""
    owner: str = ""
    stranger: str = ""
    studies: dict[str, str] = field(default_factory=dict)  # "a", "b", "other" → study id
    uids: dict[str, str] = field(default_factory=dict)  # same keys → StudyInstanceUID

    def owner_headers(self) -> dict[str, str]:
        return h.cookie_headers(self.engine, self.settings, self.owner)

    def headers_of(self, account_id: str) -> dict[str, str]:
        return h.cookie_headers(self.engine, self.settings, account_id)

    def create(self, *, status: int = 201, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        body.setdefault("study_ids", [self.studies["a"]])
        res = self.client.post(f"/api/v1/people/{self.person_id}/shares", json=body,
                               headers=headers or self.owner_headers())
        assert res.status_code == status, res.text
        return dict(res.json())

    def upload(self, parts: list[bytes]) -> None:
        res = self.client.post("/dicomweb/studies", content=_multipart(parts), headers={
            **self.inst.headers, "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'})
        assert res.status_code == 200, res.text


def open_share(client: Any, token: str, *, headers: dict[str, str] | None = None) -> Any:
    """What the doctor's click on the entry page sends: the page's form, POSTed (303 to /doctor with the
    share cookie). A plain GET of the link never opens a share."""
    return client.post(f"/s/{token}/session", data={}, headers=headers or {}, follow_redirects=False)


def token_of(url: str) -> str:
    found = TOKEN_RE.search(url)
    assert found, url
    return found.group(1)


def build(client: Any, engine: Engine, settings: Settings) -> ShareWorld:
    inst = h.hospital(engine)
    world = ShareWorld(client=client, engine=engine, settings=settings, inst=inst)
    born = h.years_ago(62, days=40)
    world.person_id = h.person(engine, settings, inst, local_id=PATIENT_ID, resident_id=h.rid_for(born, sequence=11),
                               name="张伟")
    world.other_person_id = h.person(engine, settings, inst, local_id="OTHER-1",
                                     resident_id=h.rid_for(h.years_ago(40), sequence=12), name="李强")
    world.owner = h.account(engine, "share-owner", bind_to=world.person_id)
    world.stranger = h.account(engine, "share-stranger", bind_to=world.other_person_id)
    world.uids = {"a": str(pydicom.dcmread(CT_3SLICE[0], stop_before_pixels=True).StudyInstanceUID),
                  "b": generate_uid(), "other": generate_uid()}
    world.upload([p.read_bytes() for p in CT_3SLICE])
    world.upload(ct_copy(patient_id=PATIENT_ID, study_uid=world.uids["b"]))
    world.upload(ct_copy(patient_id="OTHER-1", study_uid=world.uids["other"]))
    res = client.put(f"/api/v1/institution/reports/by-study-uid/{world.uids['a']}", headers=inst.headers, json=REPORT)
    assert res.status_code in (200, 201), res.text
    with session_scope(engine, readonly=True) as s:
        rows = s.exec(select(Study.id, Study.study_instance_uid, Study.person_id)
                      .where(col(Study.study_instance_uid).in_(list(world.uids.values())))).all()
    by_uid = {uid: (sid, pid) for sid, uid, pid in rows}
    for key, uid in world.uids.items():
        world.studies[key] = by_uid[uid][0]
    assert by_uid[world.uids["a"]][1] == world.person_id and by_uid[world.uids["other"]][1] == world.other_person_id
    return world


# Peers for the trusted-proxy tests (settings from proxied_settings: trusted_proxies="10.20.0.0/16").
PROXY = ("10.20.0.5", 40000)  # the hospital's nginx, trusted
OUTSIDE = ("203.0.113.50", 40000)  # anyone on the internet, not trusted


def proxied_settings(tmp_path: Path, database_url: str) -> Settings:
    """Test settings behind the hospital's proxy (PROXY trusted, OUTSIDE not), without Redis."""
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", trusted_proxies="10.20.0.0/16")


@contextmanager
def peer(app: Any, address: tuple[str, int]) -> Iterator[TestClient]:
    """A client that connects from ``address``; not entered, so the app does not start a second time."""
    c = TestClient(app, base_url="http://testserver", client=address)
    try:
        yield c
    finally:
        c.close()
