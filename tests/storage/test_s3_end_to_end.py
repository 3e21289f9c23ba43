"""The whole service on S3 (YUNYING_STORAGE_URL=s3://…): STOW-RS, WADO-RS byte-exact, frames by ranged
reads, previews, the report PDF and a share's ZIP — and nothing written under the data dir's object areas."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from backend.config import Settings, load_settings
from backend.db import session_scope
from backend.previews.cache import settle
from backend.storage.service import open_store
from backend.studies.models import Instance
from tests.ingest.test_stow_live import _parts
from tests.sharing.conftest import browser
from tests.sharing.world import CT_3SLICE, build, open_share, token_of


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_url: str) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", storage_url=s3_url)


def test_stow_wado_previews_pdf_and_zip_on_s3(client: TestClient, engine: object, settings: Settings,
                                              s3_url: str) -> None:
    world = build(client, engine, settings)  # type: ignore[arg-type]
    originals = open_store(s3_url).sub("blobs")
    stored = {i.key for i in originals.list()}
    assert {f"dicom/{h[:2]}/{h[2:4]}/{h}" for h in (hashlib.sha256(p.read_bytes()).hexdigest() for p in CT_3SLICE)} \
        <= stored and len(stored) == 9
    assert not (settings.data_dir / "blobs").exists() and not (settings.data_dir / "derived").exists()

    # WADO-RS: the originals byte for byte, metadata, one frame by a ranged read
    auth = world.inst.headers
    uid = world.uids["a"]
    whole = client.get(f"/dicomweb/studies/{uid}", headers=auth)
    assert whole.status_code == 200
    assert sorted(_parts(whole.content, whole.headers["content-type"])) == sorted(p.read_bytes() for p in CT_3SLICE)
    meta = client.get(f"/dicomweb/studies/{uid}/metadata", headers=auth)
    assert meta.status_code == 200 and len(meta.json()) == 3
    ds = pydicom.dcmread(CT_3SLICE[0])
    frame = client.get(f"/dicomweb/studies/{uid}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/frames/1",
                       headers={**auth, "Accept": 'multipart/related; type="application/octet-stream"'})
    assert frame.status_code == 200
    assert _parts(frame.content, frame.headers["content-type"])[0] == ds.PixelData

    # a preview rendered from S3 lands in S3's derived area
    owner = world.owner_headers()
    with session_scope(engine, readonly=True) as s:  # type: ignore[arg-type]
        inst = s.exec(select(Instance).where(col(Instance.study_id) == world.studies["a"])).first()
        assert inst is not None
    preview = client.get(f"/api/v1/people/{world.person_id}/previews/{inst.id}/0/default/256.jpg", headers=owner)
    assert preview.status_code == 200 and preview.content[:2] == b"\xff\xd8"
    settle()  # the preview's PUT follows the answer (previews/cache.py write_behind)
    assert any(i.key.endswith(".jpg") for i in open_store(s3_url).sub("derived").list())

    # the report PDF (key images decoded from S3), kept in S3's pdf area
    pdf = client.get(f"/api/v1/people/{world.person_id}/studies/{world.studies['a']}/report.pdf", headers=owner)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert [i.key for i in open_store(s3_url).sub("pdf").list()] != []

    # a doctor's ZIP streams the originals from S3
    made = world.create(allow_download=True)
    with browser(client.app) as doctor:
        open_share(doctor, token_of(made["url"]))
        res = doctor.get("/api/v1/share/download.zip")
    assert res.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(res.content))
    assert {p.read_bytes() for p in CT_3SLICE} <= {archive.read(n) for n in archive.namelist() if n != "DICOMDIR"}
    assert not (settings.data_dir / "blobs").exists() and not (settings.data_dir / "pdf").exists()
