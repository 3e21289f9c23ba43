"""Against a real server process on loopback: the third-party ``dicomweb-client`` stores, searches
and retrieves; WADO-RS gives back the exact bytes; killing the server in the middle of a
300-instance upload leaves no partial instance, and the re-upload completes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pydicom
from dicomweb_client.api import DICOMwebClient
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from backend.config import Settings
from backend.db import session_scope
from backend.dicomweb.cli import looks_like_dicom
from backend.studies.models import Instance, Series, Study
from tests.conftest import DICOM, ROOT, LiveServer
from tests.ingest.test_stow import content_type, hospital, multipart_body
from tools import synthetic

FIXTURES = [
    *sorted((DICOM / "dcmqi" / "ct-3slice").glob("*.dcm")),
    DICOM / "highdicom" / "sr_document.dcm",
    DICOM / "highdicom" / "seg_image_ct_binary.dcm",
]


def _parts(body: bytes, content_type: str) -> list[bytes]:
    boundary = content_type.split("boundary=")[1].split(";")[0].strip('"')
    chunks = body.split(f"--{boundary}".encode())[1:-1]
    return [chunk.split(b"\r\n\r\n", 1)[1][:-2] for chunk in chunks]


def test_dicomweb_client_round_trip(live_server: LiveServer, engine: Engine) -> None:
    key = hospital(engine).api_key
    session_headers = {"Authorization": f"Bearer {key}"}
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", headers=session_headers)
    datasets = [pydicom.dcmread(p) for p in FIXTURES]
    # The CT files go up as raw bytes (dicomweb-client re-encodes data sets when it stores them)...
    raw_body = multipart_body([p.read_bytes() for p in FIXTURES[:3]])
    raw_store = httpx.post(f"{live_server.url}/dicomweb/studies", content=raw_body, timeout=30,
                           headers={**session_headers, "Content-Type": content_type()})
    assert raw_store.status_code == 200
    # ... the SR and SEG through dicomweb-client.
    response = client.store_instances(datasets[3:])
    assert len(response.ReferencedSOPSequence) == 2
    assert "FailedSOPSequence" not in response

    ct_study = datasets[0].StudyInstanceUID
    studies = client.search_for_studies(search_filters={"StudyInstanceUID": ct_study})
    assert [s["0020000D"]["Value"][0] for s in studies] == [ct_study]
    assert studies[0]["00201208"]["Value"] == [3]
    assert client.search_for_studies(search_filters={"StudyDate": "19000101-19000102"}) == []
    series = client.search_for_series(study_instance_uid=ct_study)
    assert [s["00080060"]["Value"][0] for s in series] == ["CT"]
    instances = client.search_for_instances(study_instance_uid=ct_study, search_filters={"limit": 2})
    assert len(instances) == 2

    first = datasets[0]
    got = client.retrieve_instance(first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID)
    assert got.SOPInstanceUID == first.SOPInstanceUID and got.PixelData == first.PixelData
    metadata = client.retrieve_study_metadata(ct_study)
    assert {m["00080018"]["Value"][0] for m in metadata} == {d.SOPInstanceUID for d in datasets[:3]}

    # Byte-exact: the multipart parts are the uploaded files, unchanged.
    raw = httpx.get(f"{live_server.url}/dicomweb/studies/{ct_study}", headers=session_headers, timeout=30)
    assert raw.status_code == 200
    originals = {hashlib.sha256(p.read_bytes()).hexdigest() for p in FIXTURES[:3]}
    assert {hashlib.sha256(part).hexdigest() for part in _parts(raw.content, raw.headers["content-type"])} == originals

    # Another hospital sees none of it (and cannot tell it exists).
    other = DICOMwebClient(url=f"{live_server.url}/dicomweb",
                           headers={"Authorization": f"Bearer {hospital(engine, '别的医院').api_key}"})
    assert other.search_for_studies() == []
    missing = httpx.get(f"{live_server.url}/dicomweb/studies/{ct_study}/metadata",
                        headers={"Authorization": f"Bearer {hospital(engine, '第三医院').api_key}"})
    assert missing.status_code == 404


def _upload_cli(url: str, key: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", "upload", "--url", url, "--key", key, "--batch-files", "40",
         *map(str, paths)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_upload_cli_reports_every_file_and_exit_code(live_server: LiveServer, engine: Engine, tmp_path: Path) -> None:
    key = hospital(engine).api_key
    folder = tmp_path / "pacs"
    folder.mkdir()
    for p in FIXTURES[:3]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "notes.txt").write_text("not dicom")
    done = _upload_cli(live_server.url, key, folder)
    assert done.returncode == 0, done.stderr
    assert "3 accepted" in done.stderr and "skipped (not DICOM)" in done.stderr
    (folder / "broken.dcm").write_bytes(FIXTURES[0].read_bytes()[:3000])
    again = _upload_cli(live_server.url, key, folder)
    assert again.returncode == 1
    assert "3 accepted (3 already stored), 1 failed" in again.stderr
    assert "broken.dcm" in again.stderr and "0xC000" in again.stderr


def _count(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as s:
        return (s.exec(select(func.count()).select_from(Study)).one(),
                s.exec(select(func.count()).select_from(Series)).one(),
                s.exec(select(func.count()).select_from(Instance)).one())


def test_killed_mid_upload_leaves_no_partial_instance_and_reupload_completes(
    live_server: LiveServer, live_server_factory: Callable[..., Any], engine: Engine, settings: Settings,
    tmp_path: Path,
) -> None:
    key = hospital(engine).api_key
    series_dir = tmp_path / "ct"
    files = synthetic.write_ct_series(out_dir=series_dir, seed=7, slices=300, size=256)
    assert len(files) == 300 and all(looks_like_dicom(p) for p in files)
    boundary = "kill-test-boundary"
    sent = 0

    def body() -> Any:
        nonlocal sent
        for path in files:
            yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + path.read_bytes() + b"\r\n"
            sent += 1
            time.sleep(0.002)
        yield f"--{boundary}--\r\n".encode()

    def post() -> None:
        try:
            httpx.post(f"{live_server.url}/dicomweb/studies", content=body(), timeout=60,
                       headers={"Authorization": f"Bearer {key}",
                                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
        except httpx.HTTPError:
            pass

    thread = threading.Thread(target=post)
    thread.start()
    deadline = time.monotonic() + 30
    while sent < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    live_server.stop(kill=True)
    thread.join(timeout=30)
    assert 0 < sent < 300
    studies, _series, instances = _count(engine)
    assert studies <= 1 and instances < 300
    with session_scope(engine) as s:
        for row in s.exec(select(Instance)).all():  # whatever is indexed is whole and durable
            blob = settings.data_dir / "blobs" / row.blob_key
            assert blob.stat().st_size == row.size and hashlib.sha256(blob.read_bytes()).hexdigest() == row.sha256

    with live_server_factory() as server:
        done = _upload_cli(server.url, key, series_dir)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "300 accepted" in done.stderr
    assert _count(engine) == (1, 1, 300)
    with session_scope(engine) as s:
        study = s.exec(select(Study)).one()
        assert study.instance_count == 300 and study.series_count == 1


def test_concurrent_uploads_of_one_study_end_in_one_study(
    live_server_factory: Callable[..., Any], engine: Engine, tmp_path: Path
) -> None:
    key = hospital(engine).api_key
    files = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=3, slices=40, size=64)
    # Four clients, overlapping halves (every instance sent twice), against two worker processes.
    shares = [files[:30], files[10:], files[::2], files[1::2]]
    results: list[int] = []

    def send(share: list[Path], url: str) -> None:
        body = multipart_body([p.read_bytes() for p in share])
        r = httpx.post(f"{url}/dicomweb/studies", content=body, timeout=120,
                       headers={"Authorization": f"Bearer {key}", "Content-Type": content_type()})
        results.append(r.status_code)

    with live_server_factory(workers=2) as server:
        threads = [threading.Thread(target=send, args=(share, server.url)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [200, 200, 200, 200]
    assert _count(engine) == (1, 1, 40)
    with session_scope(engine) as s:
        study = s.exec(select(Study)).one()
        series = s.exec(select(Series)).one()
    assert (study.instance_count, study.series_count, series.instance_count) == (40, 1, 40)
    assert study.total_bytes == sum(p.stat().st_size for p in files)
