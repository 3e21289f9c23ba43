"""The 12-hour rule: the operator sees each hospital's median and worst delay from acquisition to
arrival, and the studies that broke the rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from backend.config import Settings
from backend.db import session_scope
from backend.ingest.delays import delay_report
from backend.studies.models import Study
from tests.conftest import ROOT
from tests.ingest.test_stow import hospital

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _studies(engine: Engine) -> tuple[str, str]:
    a, b = hospital(engine, "南京医院"), hospital(engine, "苏州医院")
    with session_scope(engine) as s:
        for n, hours in enumerate([1, 2, 3, 30]):
            s.add(Study(institution_id=a.institution_id, study_instance_uid=f"1.2.{n}", acquired_at=T0,
                        first_received_at=T0 + timedelta(hours=hours)))
        s.add(Study(institution_id=b.institution_id, study_instance_uid="1.3.1", acquired_at=T0,
                    first_received_at=T0 + timedelta(minutes=30)))
        s.add(Study(institution_id=b.institution_id, study_instance_uid="1.3.2", acquired_at=None,
                    first_received_at=T0))
    return a.institution_id, b.institution_id


def test_delay_report_per_institution(engine: Engine) -> None:
    a, b = _studies(engine)
    with session_scope(engine, readonly=True) as s:
        report = delay_report(session=s)
    rows = {row["institution_id"]: row for row in report["institutions"]}
    assert rows[a]["studies"] == 4 and rows[a]["median_hours"] == 2.5 and rows[a]["worst_hours"] == 30.0
    assert rows[a]["late"] == 1
    assert rows[b]["studies"] == 1 and rows[b]["unknown"] == 1 and rows[b]["late"] == 0
    assert [late["study_instance_uid"] for late in report["late_studies"]] == ["1.2.3"]
    with session_scope(engine, readonly=True) as s:
        strict = delay_report(session=s, limit=timedelta(hours=2))
    assert sorted(x["study_instance_uid"] for x in strict["late_studies"]) == ["1.2.2", "1.2.3"]


def test_operator_command(engine: Engine, settings: Settings) -> None:
    _studies(engine)
    env = {**os.environ, "YUNYING_DATA_DIR": str(settings.data_dir),
           "YUNYING_DATABASE_URL": settings.effective_database_url}
    done = subprocess.run([sys.executable, "-m", "backend.cli", "imaging", "delays", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {row["institution"] for row in report["institutions"]} == {"南京医院", "苏州医院"}
    text = subprocess.run([sys.executable, "-m", "backend.cli", "imaging", "delays"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert "南京医院: 4 studies, median 2.5 h, worst 30.0 h, 1 over 12 h" in text.stdout
    assert "LATE 南京医院 1.2.3" in text.stdout
