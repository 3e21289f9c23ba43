"""End to end: a hospital registers a patient and uploads a study over STOW-RS; the account bound to
that person gets "您有新的影像检查结果" in WeChat (the simulator's inbox)."""

from __future__ import annotations

import time

import httpx
import pytest

from backend.auth.demo import seed_wechat
from backend.db import session_scope
from backend.institutions.service import create_institution
from backend.notify.service import MESSAGE_TITLE
from tests.conftest import DICOM

pytestmark = pytest.mark.live
CT = sorted((DICOM / "dcmqi" / "ct-3slice").glob("*.dcm"))
BOUNDARY = "yunying-notify-test"


def _multipart(parts: list[bytes]) -> bytes:
    out = bytearray()
    for data in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    return bytes(out + f"--{BOUNDARY}--\r\n".encode())


def _templates(url: str) -> list[dict]:  # type: ignore[type-arg]
    return httpx.get(f"{url}/_sim/wechat/inbox", params={"kind": "template"}).json()  # type: ignore[no-any-return]


def test_upload_reaches_the_patients_wechat(settings, engine, live_server) -> None:  # type: ignore[no-untyped-def]
    seed_wechat(settings=settings, engine=engine)  # demo-patient is bound to 张伟
    with session_scope(engine) as session:
        key = create_institution(session=session, name="南京市第一医院").api_key
    auth = {"Authorization": f"Bearer {key}"}
    registered = httpx.put(f"{live_server.url}/api/v1/institution/patients/99000", headers=auth,
                           json={"resident_id": "320106196203150013", "name": "张伟"})
    assert registered.status_code in (200, 201), registered.text
    stored = httpx.post(
        f"{live_server.url}/dicomweb/studies", content=_multipart([p.read_bytes() for p in CT]), timeout=60,
        headers={**auth, "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'},
    )
    assert stored.status_code == 200, stored.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _templates(live_server.url):
        time.sleep(0.5)
    inbox = _templates(live_server.url)
    assert len(inbox) == 1, inbox
    assert inbox[0]["to"] == "demo-patient" and inbox[0]["data"]["first"]["value"] == MESSAGE_TITLE
    # Uploading the same files again is idempotent: no second message.
    again = httpx.post(
        f"{live_server.url}/dicomweb/studies", content=_multipart([p.read_bytes() for p in CT]), timeout=60,
        headers={**auth, "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'},
    )
    assert again.status_code == 200
    time.sleep(4)
    assert len(_templates(live_server.url)) == 1
