"""The short version of the standard load run (issue 18): the whole load model — patients, relatives,
doctors, uploading hospitals, WeChat pushes — for a minute against a real server, then the verdict the
full run gives: no server error, < 0.1 % failed requests, every acknowledged instance byte-exact,
the audit chain intact. The full run (200 users, 10 minutes) is ``make load`` (docs/load.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]


def test_short_load_run_loses_nothing(live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "load"
    run = subprocess.run(
        [sys.executable, "-m", "tools.load.run", "--url", live_server.url, "--out", str(out), "--users", "20",
         "--minutes", "1", "--hospitals", "2", "--patients", "3", "--slices", "12"],
        cwd=ROOT, env=live_server.env, capture_output=True, text=True, timeout=280,
    )
    said = f"run's output:\n{run.stderr[-4000:]}\nserver log:\n{live_server.log.read_text()[-3000:]}"
    assert run.returncode in (0, 1) and run.stdout.strip(), said
    verdict = json.loads(run.stdout.strip().splitlines()[-1])
    assert verdict["locust_exit"] == 0, said
    assert verdict["server_errors"] == 0, (out / "locust_failures.csv").read_text()
    assert verdict["lost"] == 0
    assert verdict["audit_ok"]
    assert verdict["acknowledged"] > 0, "the hospitals uploaded nothing: the run proved nothing"
    assert verdict["requests"] > 100
    assert verdict["passed"], verdict
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| server errors (5xx, refused) | 0 |" in report
    assert (out / "latency.png").stat().st_size > 1000
