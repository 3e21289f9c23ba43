"""In-process rendering core (issue 4): images/s per path, preview bytes; see backend/imaging/rendering/benchmark.py."""

from __future__ import annotations


def run() -> None:
    from backend.imaging.rendering import benchmark

    benchmark.main(["--runs", "3", "--repeat", "100"])
