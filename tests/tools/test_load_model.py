"""The load model reads the service's answers as the PWA does (tools/load/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from tests.previews.helpers import patient_with_study, started, study_of
from tools.load.browser import timeline_studies
from tools.synthetic import write_ct_series

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_patients_study_is_found_on_the_real_timeline(app: FastAPI, engine: Engine, tmp_path: Path) -> None:
    # The simulated patient and relative open the studies this picks from their timeline page; when it
    # picked none (a kind the timeline does not use), nobody but doctors ever opened a study in the runs.
    paths = write_ct_series(out_dir=tmp_path, seed=5, slices=4, size=64)
    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, paths)
        page = client.get(f"/api/v1/people/{person}/timeline?limit=20")
        assert page.status_code == 200, page.text
        studies = timeline_studies(page.json()["items"])
    assert [s["ref_id"] for s in studies] == [study_of(engine, person).id]
