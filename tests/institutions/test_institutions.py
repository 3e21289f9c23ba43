"""Hospitals: created from the command line with a key shown once; keys are stored hashed, can be
rotated and revoked, and an invalid key is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.config import Settings
from backend.db import session_scope
from backend.errors import Conflict, Unauthorized
from backend.institutions import service
from backend.institutions.deps import CurrentInstitution
from backend.institutions.models import ApiKey


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YUNYING_DATA_DIR": str(settings.data_dir)}
    env["YUNYING_DATABASE_URL"] = settings.effective_database_url
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_creates_institution_and_prints_key_once_as_json(engine: Engine, settings: Settings) -> None:
    result = _cli(settings, "institution", "create", "江苏省人民医院", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["api_key"].startswith("yyk_") and len(out["api_key"]) > 30
    with session_scope(engine) as s:
        key = s.exec(select(ApiKey).where(ApiKey.institution_id == out["id"])).one()
        assert out["api_key"] not in (key.secret_hash, key.lookup)
        assert service.authenticate(session=s, api_key=out["api_key"]).institution_id == out["id"]
    again = _cli(settings, "institution", "create", "江苏省人民医院")
    assert again.returncode == 2 and "exists already" in again.stderr


def test_rotation_keeps_old_key_until_revoked(engine: Engine) -> None:
    with session_scope(engine) as s:
        first = service.create_institution(session=s, name="南京鼓楼医院")
        second = service.rotate_key(session=s, institution_id=first.institution_id)
        assert service.authenticate(session=s, api_key=first.api_key).key_id == first.key_id
        service.rotate_key(session=s, institution_id=first.institution_id, revoke_old=True)
        for old in (first, second):
            with pytest.raises(Unauthorized):
                service.authenticate(session=s, api_key=old.api_key)


def test_revoked_key_is_refused_even_when_recently_verified(engine: Engine) -> None:
    with session_scope(engine) as s:
        issued = service.create_institution(session=s, name="苏州市立医院")
    with session_scope(engine) as s:
        service.authenticate(session=s, api_key=issued.api_key)
        service.revoke_key(session=s, key_id=issued.key_id)
    with session_scope(engine) as s, pytest.raises(Unauthorized):
        service.authenticate(session=s, api_key=issued.api_key)


def test_duplicate_name_conflicts(engine: Engine) -> None:
    with session_scope(engine) as s:
        service.create_institution(session=s, name="A")
        with pytest.raises(Conflict):
            service.create_institution(session=s, name="A")


def test_bearer_key_on_the_wire(app: FastAPI, client: TestClient, engine: Engine) -> None:
    @app.get("/_probe/institution")
    def whoami(institution: CurrentInstitution) -> dict[str, str]:
        return {"institution_id": institution.institution_id}

    app.router.routes.insert(0, app.router.routes.pop())
    with session_scope(engine) as s:
        issued = service.create_institution(session=s, name="无锡人民医院")
    ok = client.get("/_probe/institution", headers={"Authorization": f"Bearer {issued.api_key}"})
    assert ok.json() == {"institution_id": issued.institution_id}
    forged = client.get("/_probe/institution", headers={"Authorization": f"Bearer {issued.api_key[:-2]}xx"})
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    missing = client.get("/_probe/institution")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
