"""The backup-and-restore drill (issue 18, docs/backup.md), with real processes on both databases.

A running service with people, studies, reports and labs built over its API; a hospital keeps
uploading while `python -m tools.backup create` runs; the backup is restored into a fresh data dir and
an empty database; a server started on the restored deployment must then show: an audit chain that
verifies, every instance byte-exact (its original's SHA-256 is its key), every study acknowledged
before the backup began, and for every person the same timeline entries as the source had.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import make_url, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from backend.clock import utcnow
from backend.config import Settings, load_settings
from backend.db import make_engine
from backend.ingest.service import blob_key
from backend.studies.models import Instance, Study
from tests.conftest import PG_URL, run_live_server
from tools.load.browser import login
from tools.load.population import Population, stow, study_files

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _timelines(url: str, population: Population) -> dict[str, list[tuple[str, str, str, str]]]:
    out = {}
    for patient in population.patients:
        http = requests.Session()
        login(http, base_url=url, openid=patient.openid)
        items = http.get(f"{url}/api/v1/people/{patient.person_id}/timeline", params={"limit": 100}, timeout=30)
        items.raise_for_status()
        out[patient.person_id] = sorted((i["id"], i["kind"], i["title"], i["summary"]) for i in items.json()["items"])
    return out


@pytest.fixture
def restore_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database for the restore: a new PostgreSQL database, or a path in a fresh data dir."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored' / 'yunying.db'}"
        return
    admin = make_engine(PG_URL)
    name = f"yunying_restore_{uuid.uuid4().hex[:8]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_under_load_restores_into_a_fresh_deployment(settings: Settings, engine: Engine, live_server,  # type: ignore[no-untyped-def]
                                                            restore_database_url: str, tmp_path: Path) -> None:
    env = live_server.env
    built = _cli(env, "-m", "tools.load.population", "--url", live_server.url, "--out", str(tmp_path / "pop.json"),
                 "--patients", "3", "--slices", "6", "--run", "drill")
    assert built.returncode == 0, built.stderr[-2000:]
    population = Population.load(tmp_path / "pop.json")
    before = _timelines(live_server.url, population)
    acknowledged_before = {uid for p in population.patients for uid in p.study_uids}

    # A hospital keeps uploading while the backup runs: the backup must be consistent anyway.
    stop, uploaded = threading.Event(), []

    def upload() -> None:
        http, hospital = requests.Session(), population.hospitals[0]
        patient = population.patients[0]
        for n in range(50):
            if stop.is_set():
                return
            when = utcnow() - timedelta(hours=1)
            paths = study_files(out_dir=tmp_path / f"up{n}", seed=900_000 + n, local_id=patient.local_id, name="张三",
                                resident_id=None, sex="M", birth=when.date(), hospital_name=hospital.name, when=when,
                                slices=4, size=128)
            if stow(http, base_url=live_server.url, key=hospital.key, paths=paths).status_code == 200:
                uploaded.append(n)

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        made = _cli(env, "-m", "tools.backup", "create", "--to", str(tmp_path / "backup"))
    finally:
        stop.set()
        uploader.join()
    assert made.returncode == 0, made.stderr[-2000:]
    assert uploaded, "nothing was uploaded while the backup ran: the drill proved less than it says"
    assert json.loads(made.stdout)["objects"] > 0

    restored = load_settings(env="test", data_dir=tmp_path / "restored", database_url=restore_database_url,
                             redis_url=None, public_url="http://testserver", secret_key=settings.secret_key,
                             encryption_key=settings.encryption_key, blind_index_key=settings.blind_index_key)
    restored_env = {**env, "YUNYING_DATA_DIR": str(restored.data_dir), "YUNYING_DATABASE_URL": restore_database_url}
    back = _cli(restored_env, "-m", "tools.backup", "restore", "--from", str(tmp_path / "backup"))
    assert back.returncode == 0, back.stderr[-2000:]

    assert _cli(restored_env, "-m", "backend.cli", "audit", "verify").returncode == 0
    restored_engine = make_engine(restore_database_url)
    try:
        with Session(restored_engine) as session:
            digests = session.exec(select(Instance.sha256)).all()
            studies = set(session.exec(select(Study.study_instance_uid)).all())
        originals = restored.storage.originals
        for sha256 in digests:  # every instance the restored database names is there, byte-exact
            data = originals.get_bytes(key=blob_key(sha256))
            assert data is not None and hashlib.sha256(data).hexdigest() == sha256
    finally:
        restored_engine.dispose()
    assert len(digests) >= 3 * 6
    assert acknowledged_before <= studies

    with run_live_server(restored) as server:
        after = _timelines(server.url, population)
    # The same records as before the backup; the first person may also have studies uploaded while it ran.
    first = population.patients[0].person_id
    assert {p: v for p, v in after.items() if p != first} == {p: v for p, v in before.items() if p != first}
    assert set(before[first]) <= set(after[first])
    assert len(after[first]) - len(before[first]) <= len(uploaded)
