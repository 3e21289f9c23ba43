"""The load client's CPU summary (tools/load/client_cpu.py): the report says when Locust itself was the
bottleneck of its figures."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools.load.client_cpu import ClientCpuSampler, summarise


def test_summary_splits_the_rush_and_counts_saturated_time() -> None:
    # 0-40 s at a full core (the rush), then 0.25 of a core to 100 s
    rows = [(float(t), float(t)) for t in range(0, 41, 2)] + [(40.0 + t, 40.0 + t / 4) for t in range(2, 61, 2)]
    cpu = summarise(rows)
    assert cpu["rush_cpu_s"] == 40.0 and cpu["rush_mean_cores"] == 1.0
    assert cpu["cpu_s"] == 55.0 and cpu["run_s"] == 100.0 and cpu["mean_cores"] == 0.55
    assert cpu["peak_cores"] == 1.0 and cpu["saturated_s"] == 40.0


def test_sampler_measures_a_busy_child(tmp_path: Path) -> None:
    busy = "import time\nend = time.monotonic() + 1.5\nwhile time.monotonic() < end: pass\n"
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}])"],
                              env={**os.environ})
    sampler = ClientCpuSampler(parent.pid, tmp_path, every_s=0.25)
    stop = threading.Event()
    thread = threading.Thread(target=sampler.run, args=(time.monotonic(), stop))
    thread.start()
    parent.wait()
    stop.set()
    thread.join()
    # the spinning grandchild's CPU is Locust's --processes workers' case: it counts
    assert sampler.summary()["cpu_s"] >= 0.5
    assert (tmp_path / "client_cpu.csv").read_text().startswith("seconds,cpu_seconds,cores_since_last")
