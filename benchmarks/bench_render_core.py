"""In-process rendering core (issue 4): images/s per path, preview bytes; see benchmarks/render_core.py."""

from __future__ import annotations


def run() -> None:
    from benchmarks import render_core as benchmark

    benchmark.main(["--runs", "3", "--repeat", "100"])
