"""CPU and wall time of one STOW-RS request, by stage (issue 21: the capacity model's per-stage costs).

Stages: ``receive`` (the multipart reader: hash and temp-file write, in the event loop), ``parse``
(pydicom header, index fields, DICOM JSON), ``store`` (durable blob: link, hash check, fsync of the file
and of its directory), ``index`` (duplicate lookup, rows, counters, the commit), ``mpi`` (matching the
study to a person, inside the index transaction), ``outbox`` (pre-render jobs, in the same transaction),
``document`` (the series metadata document after the commit). CPU is the calling thread's own
(``time.thread_time``), so stages that run in several threads at once add up; wall is per call, so a
stage spread over threads counts the time each thread spent in it (its sum can exceed the request's).

One log line per request (``yunying.ingest.stages``); ``benchmarks/bench_ingest.py`` sums them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STAGES = ("receive", "parse", "store", "index", "mpi", "outbox", "document")


@dataclass
class StageClock:
    cpu: dict[str, float] = field(default_factory=dict)  # seconds
    wall: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(name, cpu=time.thread_time() - cpu, wall=time.perf_counter() - wall)

    def add(self, name: str, *, cpu: float, wall: float) -> None:
        with self._lock:
            self.cpu[name] = self.cpu.get(name, 0.0) + cpu
            self.wall[name] = self.wall.get(name, 0.0) + wall

    def totals(self) -> dict[str, tuple[float, float]]:
        """Stage → (CPU s, wall s). A stage measured inside another is named ``outer.inner``
        (``index.mpi``: the matching inside the index transaction): it is taken out of ``outer`` and
        added to ``inner``, so that the stages add up."""
        with self._lock:
            cpu, wall = dict(self.cpu), dict(self.wall)
        out = {name: [cpu.get(name, 0.0), wall.get(name, 0.0)] for name in STAGES}
        for name in cpu:
            outer, _, inner = name.partition(".")
            if inner:
                for i, book in enumerate((cpu, wall)):
                    out[outer][i] -= book[name]
                    out[inner][i] += book[name]
        return {name: (c, w) for name, (c, w) in out.items()}

    def line(self) -> str:
        """``stage=cpu_ms/wall_ms`` pairs, in stage order (parsed by the ingest benchmark)."""
        return " ".join(f"{name}={1000 * c:.2f}/{1000 * w:.2f}" for name, (c, w) in self.totals().items())
