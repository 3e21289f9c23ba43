"""PDF rendering (issue 9): cold render of a 2-page imaging report with 4 key images; see backend/pdf/bench.py."""

from __future__ import annotations

import sys


def run() -> None:
    from backend.pdf import bench

    argv, sys.argv = sys.argv, ["bench_pdf", "--runs", "5"]
    try:
        bench.main()
    finally:
        sys.argv = argv
