"""STOW-RS on S3 stores each new original with one PUT and no HEAD first (storage/base.py
``probe_before_put``); bytes already at their content address (another hospital sent the same file) are
simply written again, and every copy reads back byte for byte."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from backend.config import Settings, load_settings
from backend.dicom.mime import encode_multipart, new_boundary, related_content_type
from backend.storage.service import open_store
from backend.storage.signed import count_requests
from tests.family import helpers as h
from tests.ingest.test_stow_live import _parts
from tools.synthetic import write_ct_series

SLICES = 12


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_url: str) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", storage_url=s3_url)


def _stow(client: TestClient, headers: dict[str, str], paths: list[Path]) -> None:
    boundary = new_boundary()
    res = client.post("/dicomweb/studies", content=b"".join(encode_multipart(paths, boundary=boundary)),
                      headers={**headers, "Content-Type": related_content_type(boundary)})
    assert res.status_code == 200, res.text[:500]


def test_new_originals_cost_one_put_each_and_no_head(client: TestClient, engine: Engine, settings: Settings,
                                                     s3_url: str, tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path / "ct", seed=17, slices=SLICES, size=32)
    first, second = h.hospital(engine), h.hospital(engine, name="南京市第二医院")
    originals = open_store(s3_url).sub("blobs")
    with count_requests(open_store(s3_url)) as seen:
        _stow(client, first.headers, paths)
    assert seen.get("HeadObject", 0) == 0, seen
    # one PUT per original, plus the series document (read first: GET, then written)
    assert seen["PutObject"] == SLICES + 1, seen
    assert len(list(originals.list())) == SLICES

    # the same files from another hospital: the same content addresses, written again, still whole
    with count_requests(open_store(s3_url)) as seen:
        _stow(client, second.headers, paths)
    assert seen.get("HeadObject", 0) == 0 and seen["PutObject"] == SLICES + 1, seen
    assert len(list(originals.list())) == SLICES
    head = pydicom.dcmread(paths[0], stop_before_pixels=True)
    for inst in (first, second):
        whole = client.get(f"/dicomweb/studies/{head.StudyInstanceUID}", headers=inst.headers)
        assert whole.status_code == 200
        assert sorted(_parts(whole.content, whole.headers["content-type"])) == sorted(p.read_bytes() for p in paths)
