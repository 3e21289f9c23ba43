"""The world the authorization matrix runs in: one 14-year-old patient with real data of every kind
(a real CT uploaded by STOW-RS, a diagnostic report, a lab panel, a checkup) and one actor per
column, each a real credential (cookie session with CSRF, or a hospital's API key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import lookup_digest, random_token
from backend.db import session_scope
from backend.family.models import ACTIVE, GUARDIAN, PENDING, REQUEST, REVOKED, Invitation
from backend.family.service import INVITATION_TTL, TOKEN_PREFIX
from backend.studies.models import Instance, Series, Study
from tests.conftest import DICOM
from tests.family import helpers as h

CT_3SLICE = sorted((DICOM / "dcmqi" / "ct-3slice").glob("*.dcm"))
CT_PATIENT_ID = "99000"  # PatientID in the ct-3slice files
OTHER_STUDY = DICOM / "pydicom" / "CT_small.dcm"  # the patient's second study: the one the share covers
OTHER_PATIENT_ID = "1CT1"
CT_ACCESSION = "03086212"
BOUNDARY = "yy-matrix-boundary"


def _multipart(parts: list[bytes]) -> bytes:
    out = bytearray()
    for data in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    return bytes(out + f"--{BOUNDARY}--\r\n".encode())


@dataclass
class World:
    client: TestClient
    engine: Engine
    settings: Settings
    accounts: dict[str, str] = field(default_factory=dict)  # actor → account id
    params: dict[str, str] = field(default_factory=dict)  # path parameter → value
    institution_headers: dict[str, str] = field(default_factory=dict)
    side_person: str = ""
    side_owner: str = ""
    share_secret: str | None = None  # the doctor's yy_share cookie (a share of the *other* study)

    def headers(self, actor: str) -> dict[str, str]:
        """A fresh credential per request: a cell that logs out or revokes cannot spoil the next."""
        if actor == "institution":
            return dict(self.institution_headers)
        if actor == "share":
            assert self.share_secret, "no share session could be made"
            return {"Cookie": f"yy_share={self.share_secret}"}
        if actor == "anonymous":
            return {}
        return h.cookie_headers(self.engine, self.settings, self.accounts[actor])

    # --- per-cell objects for rows whose success changes state ---------------------------------
    def fresh_pending_request(self) -> dict[str, str]:
        """A relative's pending request on the patient, for confirm/decline rows."""
        asker = h.account(self.engine, f"asker-{random_token('a', nbytes=6)}")
        return {"grant_id": h.grant(self.engine, person_id=self.params["person_id"], account_id=asker,
                                    kind=REQUEST, status=PENDING)}

    def fresh_active_grant(self) -> dict[str, str]:
        holder = h.account(self.engine, f"holder-{random_token('a', nbytes=6)}")
        return {"grant_id": h.grant(self.engine, person_id=self.params["person_id"], account_id=holder)}

    def fresh_invitation(self) -> dict[str, str]:
        """An invitation to a *different* person, so an acceptance never changes the patient's grants."""
        token = random_token(TOKEN_PREFIX, nbytes=24)
        with session_scope(self.engine) as s:
            s.add(Invitation(person_id=self.side_person, created_by_account_id=self.side_owner,
                             token_digest=lookup_digest(token), relationship="other",
                             expires_at=utcnow() + INVITATION_TTL))
        return {"token": token}

    def fresh_share(self) -> dict[str, str]:
        """A new share of the other study, made by the owner through the API (for revoke/extend rows)."""
        res = self.client.post(f"/api/v1/people/{self.params['person_id']}/shares", headers=self.headers("owner"),
                               json={"study_ids": [self.params["other_study_id"]], "expires_in": "24h"})
        assert res.status_code == 201, res.text
        self.client.cookies.clear()
        return {"share_id": str(res.json()["id"])}

    def rebind(self) -> None:
        """Undo a cell that withdrew its binding (DELETE /api/v1/me/binding) — and the withdrawal of the
        owner's shares that came with it (DESIGN.md rule 8), so the doctor's session of later cells lives."""
        from backend.auth.models import Binding
        from backend.sharing.models import Share

        with session_scope(self.engine) as s:
            for row in s.exec(select(Binding).where(col(Binding.revoked_at).is_not(None))).all():
                row.revoked_at = None
                s.add(row)
            for share in s.exec(select(Share).where(col(Share.revoked_at).is_not(None))).all():
                share.revoked_at = None
                s.add(share)


def build(client: TestClient, engine: Engine, settings: Settings) -> World:
    world = World(client=client, engine=engine, settings=settings)
    inst = h.hospital(engine)
    world.institution_headers = inst.headers
    born = h.years_ago(14, days=30)
    patient = h.person(engine, settings, inst, local_id=CT_PATIENT_ID, resident_id=h.rid_for(born, sequence=41),
                       name="张小华", phone="13900000009")
    other = h.person(engine, settings, inst, local_id="OTHER", resident_id=h.rid_for(h.years_ago(40), sequence=42),
                     name="李强")
    world.side_person = h.person(engine, settings, inst, local_id="SIDE",
                                 resident_id=h.rid_for(h.years_ago(60), sequence=43), name="王五")
    world.side_owner = h.account(engine, "m-side", bind_to=world.side_person)
    a = world.accounts
    a["owner"] = h.account(engine, "m-owner", bind_to=patient)
    a["stranger"] = h.account(engine, "m-stranger", bind_to=other)
    a["unbound"] = h.account(engine, "m-unbound")
    for actor in ("proxy", "narrow", "revoked", "expired", "pending14"):
        a[actor] = h.account(engine, f"m-{actor}")
    h.grant(engine, person_id=patient, account_id=a["proxy"], relationship="parent")
    h.grant(engine, person_id=patient, account_id=a["narrow"], relationship="parent", scope="kinds",
            kinds="lab_result")
    h.grant(engine, person_id=patient, account_id=a["revoked"], status=REVOKED, ended_at=utcnow())
    h.grant(engine, person_id=patient, account_id=a["expired"], expires_at=utcnow() - timedelta(minutes=1))
    h.grant(engine, person_id=patient, account_id=a["pending14"], relationship="parent", kind=GUARDIAN,
            status=ACTIVE, ward_birth_date=born, created_at=datetime.now(UTC) - timedelta(days=400))
    h.person(engine, settings, inst, local_id=OTHER_PATIENT_ID, resident_id=h.rid_for(born, sequence=41),
             name="张小华")  # the same person under a second hospital ID
    _records(world, inst.headers)
    world.params.update(person_id=patient, frame="0", frames="1", path="timeline", checkup_local="TJ-1",
                        local_patient_id=CT_PATIENT_ID, accession_number=CT_ACCESSION,
                        resident_id=h.rid_for(born, sequence=41))
    world.params.update(_ids(world))
    world.params.update(world.fresh_invitation())
    world.params.update(_preview_params(world))
    _share(world)
    return world


def _share(world: World) -> None:
    """Share the patient's *other* study and open it like a doctor would; absent sharing: no actor."""
    p = world.params
    res = world.client.post(f"/api/v1/people/{p['person_id']}/shares", headers=world.headers("owner"),
                            json={"study_ids": [p["other_study_id"]], "expires_in": "24h"})
    world.client.cookies.clear()
    if res.status_code == 404 and "share" not in res.text:
        return
    assert res.status_code == 201, res.text
    p["share_id"] = res.json()["id"]
    p["share_token"] = urlsplit(res.json()["url"]).path.rsplit("/", 1)[-1]
    opened = world.client.post(f"/s/{p['share_token']}/session", json={})
    assert opened.status_code == 200, opened.text
    world.share_secret = opened.cookies.get("yy_share")
    world.client.cookies.clear()


def _records(world: World, key: dict[str, str]) -> None:
    c = world.client
    res = c.post("/dicomweb/studies", content=_multipart([p.read_bytes() for p in [*CT_3SLICE, OTHER_STUDY]]),
                 headers={**key, "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'})
    assert res.status_code == 200, res.text
    res = c.put(f"/api/v1/institution/reports/{CT_ACCESSION}", headers=key, json=REPORT)
    assert res.status_code in (200, 201), res.text
    res = c.put("/api/v1/institution/lab-reports/L-1", headers=key, json=LAB)
    assert res.status_code in (200, 201), res.text
    world.params["lab_id"] = res.json()["id"]
    world.params["report_id"] = "L-1"
    res = c.put("/api/v1/institution/checkups/TJ-1", headers=key, json=CHECKUP)
    assert res.status_code in (200, 201), res.text
    world.params["checkup_id"] = res.json()["id"]


def _ids(world: World) -> dict[str, str]:
    with session_scope(world.engine, readonly=True) as s:
        study = s.exec(select(Study).where(Study.local_patient_id == CT_PATIENT_ID)).one()
        other = s.exec(select(Study).where(Study.local_patient_id == OTHER_PATIENT_ID)).one()
        assert study.person_id == other.person_id is not None
        series = s.exec(select(Series).where(Series.study_id == study.id)).one()
        instance = s.exec(select(Instance).where(Instance.series_id == series.id)).first()
        assert instance is not None
        return {"study_id": study.id, "other_study_id": other.id, "series_id": series.id, "instance_id": instance.id,
                "study": study.study_instance_uid, "study_instance_uid": study.study_instance_uid,
                "series": series.series_instance_uid, "instance": instance.sop_instance_uid}


def _preview_params(world: World) -> dict[str, str]:
    """window / name / key of the preview and scrub-sheet routes, as the owner's app would see them."""
    p = world.params
    res = world.client.get(f"/api/v1/people/{p['person_id']}/series/{p['series_id']}/scrub",
                           headers=world.headers("owner"))
    if res.status_code != 200:
        return {}
    body = res.json()
    out: dict[str, str] = {}
    if body.get("sheet_urls"):
        parts = urlsplit(body["sheet_urls"][0]).path.split("/")
        out.update(window=parts[-3], key=parts[-2], name=parts[-1])
    if body.get("frame_urls"):
        out["preview_name"] = f"{body['widths'][0]}.jpg"
    return out


REPORT: dict[str, Any] = {
    "status": "final", "exam_items": ["胸部CT平扫"], "findings": "双肺纹理清晰。", "impression": "未见明显异常。",
    "reporting_physician": "李明", "reported_at": "2024-03-02T10:15:00+08:00",
}
LAB: dict[str, Any] = {
    "local_patient_id": CT_PATIENT_ID, "panel_name": "血常规", "specimen": "全血",
    "reported_at": "2024-03-02T11:00:00+08:00",
    "items": [{"code": "WBC", "name": "白细胞计数", "value": 6.1, "unit": "10^9/L", "reference_range": "3.5-9.5"}],
}
CHECKUP: dict[str, Any] = {
    "local_patient_id": CT_PATIENT_ID, "package_name": "学生体检", "exam_date": "2024-05-10T08:00:00+08:00",
    "reported_at": "2024-05-15T16:00:00+08:00",
    "sections": [{"name": "一般检查", "items": [{"name": "身高", "result": "165", "unit": "cm"}]}],
    "conclusions": ["未见异常"], "lab_panels": [],
}
