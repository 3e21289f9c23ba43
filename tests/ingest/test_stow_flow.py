"""The building blocks composed the way a STOW-RS route will use them, inside a throwaway Starlette
app driven over ASGI by httpx: every fixture file goes up in one multipart/related request and comes
back as stored or failed with a reason. (The project's real route is built elsewhere.)"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import httpx
import pytest
from pydicom.dataset import Dataset
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.dicom.dicomjson import (
    FailedInstance,
    StoredInstance,
    StoreResponse,
    instance_url,
    stow_http_status,
    stow_response_json,
    study_url,
)
from backend.dicom.errors import DicomRejected, FailureReason
from backend.dicom.metadata import extract_metadata
from backend.dicom.multipart import MultipartError, parse_related_content_type, read_multipart
from backend.dicom.parse import parse_instance
from tests.dicom.test_fixtures import MANIFEST, fixture
from tests.dicom.test_parse import EXPECTED_REJECTIONS

# pydicom warns (and logs) about the malformed values these tests feed it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

BASE = "http://testserver/dicomweb"


def make_app(spool: Path, seen: dict[str, str]) -> Starlette:
    async def stow(request: Request) -> Response:
        try:
            ctype = parse_related_content_type(request.headers.get("content-type"))
        except MultipartError as exc:
            return JSONResponse({"detail": exc.message_en}, status_code=exc.status)
        stored: list[StoredInstance] = []
        failed: list[FailedInstance] = []
        study = None
        try:
            async for part in read_multipart(request.stream(), boundary=ctype.boundary, directory=spool):
                if part.rejected or part.path is None:
                    failed.append(FailedInstance(None, None, FailureReason.SOP_CLASS_NOT_SUPPORTED, part.rejected))
                    continue
                try:
                    parsed = parse_instance(path=part.path)
                except DicomRejected as exc:
                    failed.append(FailedInstance(None, None, exc.code, exc.reason))
                    continue
                finally:
                    part.path.unlink()
                meta = extract_metadata(parsed.dataset, transfer_syntax_uid=parsed.transfer_syntax_uid)
                study = parsed.study_instance_uid
                known = seen.get(parsed.sop_instance_uid)
                if known is not None and known != part.sha256:
                    failed.append(
                        FailedInstance(
                            parsed.sop_class_uid,
                            parsed.sop_instance_uid,
                            FailureReason.DUPLICATE_SOP_INSTANCE,
                            "different bytes",
                        )
                    )
                    continue
                seen[parsed.sop_instance_uid] = part.sha256 or ""
                url = instance_url(
                    base=BASE,
                    study_uid=study,
                    series_uid=parsed.series_instance_uid,
                    instance_uid=parsed.sop_instance_uid,
                )
                note = "already stored" if known else (meta.patient.display_name or None)
                stored.append(StoredInstance(parsed.sop_class_uid, parsed.sop_instance_uid, url, note=note))
        except MultipartError as exc:
            return JSONResponse({"detail": exc.message_en}, status_code=exc.status)
        result = StoreResponse(
            retrieve_url=study_url(base=BASE, study_uid=study) if study else None,
            stored=tuple(stored),
            failed=tuple(failed),
        )
        return JSONResponse(
            stow_response_json(result), status_code=stow_http_status(result), media_type="application/dicom+json"
        )

    return Starlette(routes=[Route("/dicomweb/studies", stow, methods=["POST"])])


def multipart(blobs: list[bytes], boundary: str) -> bytes:
    out = bytearray()
    for blob in blobs:
        out += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + blob + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


async def _post(app: Starlette, body: bytes, content_type: str, chunk: int = 65536) -> httpx.Response:
    async def stream():
        for i in range(0, len(body), chunk):
            yield body[i : i + chunk]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/dicomweb/studies", content=stream(), headers={"content-type": content_type})


def test_every_fixture_through_one_stow_request(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    app = make_app(tmp_path, seen)
    names = [e["file"] for e in MANIFEST]
    blobs = [fixture(n).read_bytes() for n in names] + [b"this is not DICOM"]
    boundary = uuid.uuid4().hex
    ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
    response = asyncio.run(_post(app, multipart(blobs, boundary), ctype, chunk=10_007))
    assert response.status_code == 202  # some stored, some failed
    assert response.headers["content-type"].startswith("application/dicom+json")
    body = response.json()
    ds = Dataset.from_json(body)
    # The fixture set re-uses SOP Instance UIDs across transfer-syntax variants (MR_small x6,
    # emri_small x2, JPEG-lossy/JPGExtended): in one archive the first wins, the others conflict.
    first_sha: dict[str, str] = {}
    conflicts = 0
    for entry in MANIFEST:
        if entry["file"] in EXPECTED_REJECTIONS:
            continue
        known = first_sha.setdefault(entry["SOPInstanceUID"], entry["sha256"])
        conflicts += known != entry["sha256"]
    assert conflicts == 7
    stored_uids = [item.ReferencedSOPInstanceUID for item in ds.ReferencedSOPSequence]
    assert sorted(stored_uids) == sorted(first_sha)
    reasons = sorted(item.FailureReason for item in ds.FailedSOPSequence)
    expected = [int(c) for c in EXPECTED_REJECTIONS.values()] + [FailureReason.CANNOT_UNDERSTAND]
    assert reasons == sorted(expected + [FailureReason.DUPLICATE_SOP_INSTANCE] * conflicts)
    assert list(tmp_path.iterdir()) == []  # every temp part was consumed

    # Same bytes again: success ("already stored"); changed bytes under a known UID: 0x0111.
    one = fixture("pydicom/CT_small.dcm").read_bytes()
    changed = bytearray(one)
    changed[-1] ^= 0xFF
    again = asyncio.run(_post(app, multipart([one, bytes(changed)], boundary), ctype))
    assert again.status_code == 202
    answer = Dataset.from_json(again.json())
    assert answer.ReferencedSOPSequence[0][0x00091001].value == "already stored"
    assert answer.FailedSOPSequence[0].FailureReason == FailureReason.DUPLICATE_SOP_INSTANCE
    assert seen[answer.ReferencedSOPSequence[0].ReferencedSOPInstanceUID] == hashlib.sha256(one).hexdigest()


def test_chinese_names_survive_the_trip(tmp_path: Path) -> None:
    app = make_app(tmp_path, {})
    boundary = "b0undary"
    ctype = f"multipart/related; type=application/dicom; boundary={boundary}"
    blobs = [fixture("pydicom/charset/chrX1.dcm").read_bytes(), fixture("pydicom/charset/chrX2.dcm").read_bytes()]
    response = asyncio.run(_post(app, multipart(blobs, boundary), ctype, chunk=7))
    assert response.status_code == 200
    notes = [item[0x00091001].value for item in Dataset.from_json(response.json()).ReferencedSOPSequence]
    assert notes == ["王小東", "王小东"]


def test_request_level_errors(tmp_path: Path) -> None:
    app = make_app(tmp_path, {})
    body = multipart([fixture("pydicom/CT_small.dcm").read_bytes()], "xyz")
    assert asyncio.run(_post(app, body, "multipart/related; type=application/dicom")).status_code == 400
    assert asyncio.run(_post(app, body, "application/json")).status_code == 415
    truncated = asyncio.run(_post(app, body[:-20], "multipart/related; type=application/dicom; boundary=xyz"))
    assert truncated.status_code == 400
    assert "truncated" in truncated.json()["detail"]
    assert list(tmp_path.iterdir()) == []
