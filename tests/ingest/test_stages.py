"""Per-stage CPU and wall time of a STOW-RS request (issue 21's capacity model): stages measured inside
another one are taken out of it, and every request logs one line the ingest benchmark sums."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from backend.ingest.stages import STAGES, StageClock
from tests.ingest.test_stow import CT_3SLICE, hospital, stow


def test_a_stage_inside_another_is_moved_out_of_it() -> None:
    clock = StageClock()
    with clock.stage("index"):
        time.sleep(0.02)
        with clock.stage("index.mpi"):
            time.sleep(0.2)
    totals = clock.totals()
    assert list(totals) == list(STAGES)
    index_wall, mpi_wall = totals["index"][1], totals["mpi"][1]
    assert mpi_wall >= 0.2 and 0.02 <= index_wall < 0.15  # without the move, index would be >= 0.22
    cpu_spin = time.thread_time() + 0.02
    with clock.stage("parse"):
        while time.thread_time() < cpu_spin:
            pass
    assert clock.totals()["parse"][0] >= 0.019  # CPU of this thread, not of the process


def test_every_stow_request_logs_its_stages(client: TestClient, engine: Engine,
                                            caplog: pytest.LogCaptureFixture) -> None:
    key = hospital(engine).api_key
    with caplog.at_level(logging.INFO, logger="yunying.ingest.stages"):
        status, _ = stow(client, key, [p.read_bytes() for p in CT_3SLICE])
    assert status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "yunying.ingest.stages"]
    assert len(lines) == 1 and lines[0].startswith("stow instances=3 failed=0 ")
    fields = dict(f.split("=") for f in lines[0].split()[4:])
    assert list(fields) == list(STAGES)
    cpu = {name: float(value.split("/")[0]) for name, value in fields.items()}
    assert cpu["receive"] > 0 and cpu["parse"] > 0 and cpu["store"] > 0 and cpu["index"] > 0
