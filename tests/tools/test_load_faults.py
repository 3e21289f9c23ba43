"""The load run's fault script and per-fault accounting (tools/load/faults.py, cluster_checks.py), without
a cluster: which actions parse, and how a window's failures and its time back to normal are read off
Locust's per-second history."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tools.load.cluster_checks import fault_effects
from tools.load.faults import parse


def test_every_scripted_fault_of_the_standard_run_parses() -> None:
    specs = ["90:kill-web-2", "105:start-web-2", "165:kill-worker", "180:start-worker", "240:restart-postgres",
             "300:stop-redis", "360:start-redis", "420:stop-s3", "450:start-s3", "10:stop-rabbitmq",
             "20:start-rabbitmq", "30:stop-postgres", "33:start-postgres", "510:fill-disk-1", "540:free-disk-1"]
    faults = parse(specs)
    assert [f.target for f in faults][:9] == ["web-2", "web-2", "worker", "worker", "postgres", "redis", "redis",
                                               "s3", "s3"]
    assert [(f.action, f.target) for f in faults[-2:]] == [("fill-disk-1", "disk-1"), ("free-disk-1", "disk-1")]


@pytest.mark.parametrize("spec", ["10:kill-redis", "10:restart-s3", "10:stop-worker", "10:kill-web-x", "10:boom",
                                  "10:fill-disk-x", "10:kill-disk-1", "10:fill-web-1"])
def test_a_fault_that_cannot_be_done_is_refused_before_the_run(spec: str) -> None:
    with pytest.raises(ValueError, match="ACTION"):
        parse([spec])


def _history(path: Path, failures: dict[int, int]) -> Path:
    """A history with one request name whose cumulative failure count is ``failures[second]``."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["Timestamp", "Name", "Total Failure Count"])
        total = 0
        for second in range(100):
            total = failures.get(second, total)
            out.writerow([1000 + second, "preview image", total])
            out.writerow([1000 + second, "Aggregated", total])
    return path


def test_a_windows_failures_stop_at_the_next_fault_and_normal_is_ten_quiet_seconds(tmp_path: Path) -> None:
    # Failures from 10 s to 24 s (the first fault, back at 20 s), and again from 60 s (the second fault).
    history = _history(tmp_path / "h.csv", {12: 3, 18: 7, 24: 9, 61: 12})
    first, second = fault_effects(history, [{"target": "s3", "kind": "stop", "start_s": 10.0, "end_s": 20.0},
                                            {"target": "redis", "kind": "stop", "start_s": 60.0, "end_s": 70.0}])
    assert first["failed"] == {"preview image": 9}  # not the second fault's
    assert first["normal_after_back_s"] == 4.0  # the last failure at 24 s, quiet from then on
    assert second["failed"] == {"preview image": 3}
    assert second["normal_after_back_s"] == 0.0
