"""The preview JSON the PWA reads is what the OpenAPI description says: the study detail's previews
map (SeriesPreviews) and the scrub answer (ScrubAnswer), checked on real answers, key for key."""

from __future__ import annotations

from pathlib import Path
from typing import get_type_hints

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from backend.previews.schemas import ScrubAnswer, SeriesPreviews
from tests.previews.helpers import patient_with_study, started, study_of
from tools.synthetic import write_ct_series

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def small_ct(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_ct_series(out_dir=tmp_path_factory.mktemp("ct"), seed=11, slices=6, size=64)


def test_study_previews_and_scrub_answer_match_their_schemas(app: FastAPI, engine: Engine,
                                                             small_ct: list[Path]) -> None:
    with started(app) as client:
        person, _ = patient_with_study(client, app, engine, small_ct)
        study = study_of(engine, person)
        [series] = client.get(f"/api/v1/people/{person}/studies/{study.id}").json()["series"]
        # A series with images has every named link, and nothing the schema does not name.
        assert set(series["previews"]) == set(get_type_hints(SeriesPreviews))
        for window in ("default", "lung", "c40w400"):
            r = client.get(series["previews"]["scrub"].replace("window=default", f"window={window}"))
            assert r.status_code == 200, r.text
            body = r.json()
            answer = ScrubAnswer.model_validate(body)  # extra="forbid": a key the model lacks fails here
            # … and the model gives back the same JSON (nothing coerced, nothing defaulted in).
            assert answer.model_dump(mode="json") == body
            assert answer.window == window and answer.frame_count == len(answer.frame_urls) == 6


def test_openapi_describes_the_preview_json(app: FastAPI) -> None:
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    scrub = spec["paths"]["/api/v1/people/{person_id}/series/{series_id}/scrub"]["get"]["responses"]
    assert scrub["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ScrubAnswer"}
    assert set(schemas["ScrubAnswer"]["required"]) == set(ScrubAnswer.model_fields)
    assert schemas["ScrubAnswer"]["additionalProperties"] is False
    assert "304" in scrub
    previews = schemas["SeriesOut"]["properties"]["previews"]
    assert previews == {"$ref": "#/components/schemas/SeriesPreviews"}
    assert set(schemas["SeriesPreviews"]["properties"]) == {"thumbnail", "preview", "preview_webp", "scrub"}
    assert "required" not in schemas["SeriesPreviews"]  # a series without images answers {}
