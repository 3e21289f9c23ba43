"""Every fixture file in tests/data/dicom is either stored or rejected with a reason — none is lost
silently, none makes the server fail. Stored ones keep their bytes; the deliberately malformed
ones the manifest names are among the rejected or stored-as-is (their pixels are broken, not their
headers)."""

from __future__ import annotations

import hashlib
import json

from fastapi.testclient import TestClient
from pydicom import dcmread
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.config import Settings
from backend.db import session_scope
from backend.studies.models import Instance, Study
from tests.conftest import DICOM
from tests.ingest.test_stow import failures, hospital, stored, stow

EXPECTED_REJECTIONS = {
    "pydicom/MR_truncated.dcm": "0xC000",  # Pixel Data shorter than declared
    "pydicom/badVR.dcm": "0xA900",  # File Meta SOP Instance UID differs from the data set's
    "pydicom/dicomdirtests/DICOMDIR": "0x0122",  # a media directory, not an instance
    "pydicom-data/HTJ2KLossless_08_RGB.dcm": "0xA900",  # no StudyInstanceUID
    "pydicom-data/JLSL_RGB_ILV0.dcm": "0xA900",  # no SOPInstanceUID
    "pydicom-data/bad_sequence.dcm": "0xA900",  # SOP Instance UID is a hex hash, not a UID
}
FILES = sorted(p for p in DICOM.rglob("*") if p.is_file() and p.name not in ("MANIFEST.md", "manifest.json"))


def test_every_fixture_is_stored_or_rejected_with_a_reason(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    assert len(FILES) > 140
    key = hospital(engine).api_key
    outcome: dict[str, str] = {}
    for path in FILES:
        status, body = stow(client, key, [path.read_bytes()])
        assert status in (200, 202, 409), (path, status, body)
        ok, bad = stored(body), failures(body)
        assert len(ok) + len(bad) == 1, (path, body)
        if ok:
            outcome[str(path.relative_to(DICOM))] = "stored" if ok[0][1] != "already stored" else "duplicate"
        else:
            (_, code, reason) = bad[0]
            assert code and reason, (path, body)
            outcome[str(path.relative_to(DICOM))] = f"0x{code:04X} {reason}"
    rejected = {k: v[:6] for k, v in outcome.items() if v.startswith("0x") and not v.startswith("0x0111")}
    # pydicom ships one MR image in many encodings under ONE SOP Instance UID: the first is stored,
    # the others are different bytes under a known UID, refused with 0x0111 (the original kept).
    duplicates = [k for k, v in outcome.items() if v.startswith("0x0111")]
    uids = {k: dcmread(DICOM / k, stop_before_pixels=True, force=True).SOPInstanceUID for k in duplicates}
    stored_uids = {dcmread(DICOM / k, stop_before_pixels=True, force=True).SOPInstanceUID
                   for k, v in outcome.items() if v == "stored"}
    assert set(uids.values()) <= stored_uids
    # Chinese character sets, big endian, deflate, RLE/JPEG/J2K/HTJ2K, no preamble, no file meta: all
    # stored. Rejected: exactly the files that cannot be archived as they are, each for its reason.
    assert rejected == EXPECTED_REJECTIONS, rejected
    manifest = json.loads((DICOM / "manifest.json").read_text())
    with session_scope(engine) as s:
        rows = s.exec(select(Instance)).all()
        assert len(rows) == sum(1 for v in outcome.values() if v == "stored")
        for row in rows[:40]:
            blob = settings.data_dir / "blobs" / row.blob_key
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == row.sha256
        names = {st.patient_name for st in s.exec(select(Study)).all()}
    assert any(n and any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names), names
    assert manifest  # the manifest is the list these files came from
