"""Everything the service writes is owner-only, whatever umask it was started with (issue 15, item 6):
the data dir and every directory below it 0700, the SQLite database with its -wal and -shm, secrets,
blobs, derived images, PDFs and every other file 0600. Checked by stat, in-process (writes made
under umask 0) and against a real server process started under umask 0 with the embedded defaults."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.config import Settings
from tests.conftest import DICOM, ROOT, _wait_healthy, free_port
from tests.sharing.world import BOUNDARY, CT_3SLICE, ShareWorld, _multipart, build, ct_copy


def loose_modes(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) whose mode lets anyone but the owner in."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode & 0o077 or (path.is_dir() and mode != want):
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def world(open_umask: None, client: TestClient, engine: object, settings: Settings) -> ShareWorld:
    return build(client, engine, settings)  # type: ignore[arg-type]


def test_files_written_by_the_app_under_umask_0_are_owner_only(
    open_umask: None, world: ShareWorld, client: TestClient, settings: Settings
) -> None:
    os.umask(0)  # whatever the settings loader did: everything below is written under umask 0
    world.upload(ct_copy(patient_id="99000", study_uid="1.2.826.0.1.3680043.9.7015.99"))
    headers = world.owner_headers()
    detail = client.get(f"/api/v1/people/{world.person_id}/studies/{world.studies['a']}", headers=headers).json()
    urls = [u for s in detail["series"] for u in s["previews"].values() if isinstance(u, str) and u.startswith("/")]
    assert urls and all(client.get(u, headers=headers).status_code == 200 for u in urls[:3])
    report = client.get(f"/api/v1/people/{world.person_id}/studies/{world.studies['a']}/report.pdf", headers=headers)
    assert report.status_code == 200
    thumb = client.get(f"/dicomweb/studies/{world.uids['b']}/thumbnail", headers=world.inst.headers)
    assert thumb.status_code == 200
    assert {p.name for p in settings.data_dir.iterdir()} >= {"blobs", "derived", "pdf"}
    assert loose_modes(settings.data_dir) == []


def test_a_server_started_under_umask_0_writes_owner_only_files(tmp_path: Path) -> None:
    """The embedded default: SQLite in the data dir (its -wal and -shm too), generated secrets."""
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNYING_")}
    env.update(YUNYING_DATA_DIR=str(data), YUNYING_ENV="test", YUNYING_PUBLIC_URL=url)

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "backend.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, preexec_fn=lambda: os.umask(0))
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("migrate")
    key = json.loads(run("institution", "create", "南京市第一医院", "--json"))["api_key"]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port",
                                   str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  preexec_fn=lambda: os.umask(0))
    try:
        _wait_healthy(url, server, log)
        body = _multipart([p.read_bytes() for p in CT_3SLICE] + [(DICOM / "pydicom" / "CT_small.dcm").read_bytes()])
        res = httpx.post(f"{url}/dicomweb/studies", content=body, timeout=60, headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'})
        assert res.status_code == 200, res.text
        studies = httpx.get(f"{url}/dicomweb/studies", headers={"Authorization": f"Bearer {key}"}).json()
        uid = studies[0]["0020000D"]["Value"][0]
        thumb = httpx.get(f"{url}/dicomweb/studies/{uid}/thumbnail", headers={"Authorization": f"Bearer {key}"},
                          timeout=60)
        assert thumb.status_code == 200
        names = {p.name for p in data.iterdir()}
        assert {"yunying.db", "yunying.db-wal", "yunying.db-shm", "secrets.json", "blobs", "derived"} <= names, names
        assert loose_modes(data) == []
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert loose_modes(data) == []
