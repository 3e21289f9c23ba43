"""The ingest benchmark's own code path, tiny (issue 21): a fresh `yunying serve --workers 2` as the
benchmark starts it, a STOW-RS upload from the light client, and the per-stage costs read back from the
server's log — which needs the app's INFO lines in every worker process (cli.serve's log config)."""

from __future__ import annotations

from pathlib import Path

import httpx

from backend.ingest.stages import STAGES
from benchmarks.bench_ingest import stow_requests, warm_up, warmup_series
from benchmarks.ingest_servers import measure_server, stage_costs, yunying
from tools.synthetic import write_ct_series


def test_the_benchmark_reads_stage_costs_from_a_two_worker_server(tmp_path: Path) -> None:
    files = write_ct_series(out_dir=tmp_path / "ct", seed=5, slices=6, size=32)
    warmups = warmup_series(tmp_path, workers=2)
    mb = sum(p.stat().st_size for p in files) / 1e6
    with yunying(tmp_path, workers=2) as server:
        warm_up(server, warmups)  # as measure_ours warms the workers
        # every warm-up stored a new study: none found its instances already stored (round 11's fix)
        studies = httpx.get(f"{server.url}/dicomweb/studies", headers={"Authorization": f"Bearer {server.key}"},
                            timeout=30).json()
        assert len(studies) == 2
        measured = measure_server(server.url, server.pid, stow_requests(files, host=server.host, key=server.key),
                                  1, mb)
        stages = stage_costs(server.log, skip=len(warmups), instances=len(files))
    assert measured.mb_per_s > 0 and measured.client_cpu > 0
    assert list(stages) == list(STAGES)
    assert all(cpu > 0 for name, (cpu, _) in stages.items() if name in ("receive", "parse", "store", "index"))
