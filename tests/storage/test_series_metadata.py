"""Series metadata documents: WADO-RS /metadata of a 300-instance series is a handful of object reads
(counted as S3 requests), the same DICOM JSON as read from the originals, and a lost or stale document
is completed from the originals and written back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from backend.config import Settings, load_settings
from backend.storage.service import open_store
from backend.storage.signed import count_requests
from backend.studies import seriesdoc
from tests.family import helpers as h
from tools.synthetic import write_ct_series

SLICES = 300


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_url: str) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "data", database_url=database_url, redis_url=None,
                         public_url="http://testserver", storage_url=s3_url)


@pytest.fixture
def s3_requests(s3_url: str) -> Iterator[dict[str, int]]:
    """Every request the service's S3 client sends, by operation (botocore's event hooks)."""
    with count_requests(open_store(s3_url)) as seen:
        yield seen


def _stow(client: TestClient, headers: dict[str, str], paths: list[Path]) -> None:
    boundary = "yy-series-doc"
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes() + b"\r\n"
                    for p in paths) + f"--{boundary}--\r\n".encode()
    res = client.post("/dicomweb/studies", content=body, headers={
        **headers, "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    assert res.status_code == 200, res.text[:500]


def test_series_metadata_is_a_handful_of_reads(client: TestClient, engine: Engine, settings: Settings,
                                               s3_url: str, s3_requests: dict[str, int], tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path / "ct", seed=7, slices=SLICES, size=32)
    inst = h.hospital(engine)
    _stow(client, inst.headers, paths[:200])
    _stow(client, inst.headers, paths[200:])  # a second request adds to the same series' document
    head = pydicom.dcmread(paths[0], stop_before_pixels=True)
    url = f"/dicomweb/studies/{head.StudyInstanceUID}/series/{head.SeriesInstanceUID}/metadata"

    s3_requests.clear()
    first = client.get(url, headers=inst.headers)
    assert first.status_code == 200 and len(first.json()) == SLICES
    assert sum(s3_requests.values()) <= 5, s3_requests
    s3_requests.clear()
    study = client.get(f"/dicomweb/studies/{head.StudyInstanceUID}/metadata", headers=inst.headers)
    assert study.status_code == 200 and len(study.json()) == SLICES and sum(s3_requests.values()) <= 5

    # the document lost: the same answer, from the originals; then written back
    meta = open_store(s3_url).sub("meta")
    [doc_key] = [i.key for i in meta.list()]
    meta.delete(key=doc_key)
    s3_requests.clear()
    rebuilt = client.get(url, headers=inst.headers)
    assert rebuilt.json() == first.json() and s3_requests["GetObject"] >= SLICES  # one per original
    s3_requests.clear()
    assert client.get(url, headers=inst.headers).json() == first.json()
    assert sum(s3_requests.values()) <= 5

    # what the document holds is what the original says
    by_uid = {m["00080018"]["Value"][0]: m for m in first.json()}
    sample = pydicom.dcmread(paths[123], stop_before_pixels=True)
    assert by_uid[sample.SOPInstanceUID]["00200013"]["Value"] == [sample.InstanceNumber]
    assert "7FE00010" not in by_uid[sample.SOPInstanceUID]
    series_id = doc_key.removeprefix("series/").removesuffix(".json.gz")
    entry = seriesdoc.read(meta, series_id)[sample.SOPInstanceUID]
    assert entry["facts"]["rows"] == 32 and entry["facts"]["blob_key"].startswith("dicom/")
