"""The instance row ingest inserts as a dict (ingest/rows.py): every column of the table, the values the
model object would carry."""

from __future__ import annotations

from pathlib import Path

from backend.dicom.parse import ParseLimits
from backend.ingest.parsing import parse_file
from backend.ingest.rows import instance_row, instance_values
from backend.studies.models import Instance
from backend.studies.seriesdoc import facts_of, facts_of_values

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"


def test_the_values_name_every_column_and_match_the_model_row() -> None:
    """One INSERT … VALUES for a batch needs every column in every row: a column added to Instance and
    forgotten here fails this test instead of inserting a NULL or failing a batch."""
    path = next(p for p in sorted(DATA.rglob("*.dcm")))
    result = parse_file(path, ParseLimits(max_file_bytes=64 * 1024**2, max_pixels=10**8))
    assert result.parsed is not None and result.meta is not None
    kwargs = {"institution_id": "i" * 32, "study_id": "s" * 32, "series_id": "r" * 32, "sha256": "ab" * 32,
              "size": path.stat().st_size}
    values = instance_values(result.parsed, result.meta, **kwargs)
    assert set(values) == set(Instance.__table__.columns.keys())
    row = instance_row(result.parsed, result.meta, **kwargs)
    same = {name for name in values if name not in ("id", "received_at")}
    assert {name: getattr(row, name) for name in same} == {name: values[name] for name in same}
    assert facts_of_values(values) == facts_of(row)
    assert values["id"] != instance_values(result.parsed, result.meta, **kwargs)["id"]
