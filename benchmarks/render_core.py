"""In-process rendering benchmark (one process, one core): prints one JSON object per line.

    python -m benchmarks.render_core [--runs 3] [--repeat 100] [FILE ...]

Without files it uses the CT fixtures: dcmqi ct-3slice (512x512, uncompressed), a 512x512 CT in
JPEG lossless (pydicom-data/bad_sequence.dcm) and in JPEG 2000 lossless (pydicom-data/693_J2KR.dcm).
Each figure is the median of `--runs` runs of `--repeat` renders (512-wide JPEG q85, window 40/400),
so machine noise shows as the spread, which is printed too. The HTTP benchmark lives elsewhere; this
one isolates the rendering core.

`--clock cpu` times with this process's CPU time instead of the wall clock: on a shared machine whose
load is above its core count, wall time also counts the slices other processes held the core, so
the CPU clock gives steadier ratios (cache contention still shows). `render_stage` lines split the
raw path of one CT slice into its stages (read, grey pipeline, encode) in µs per image, to pick the
next thing to optimise by numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom

from backend.rendering import (
    DatasetFrameSource,
    RawFrameSource,
    Window,
    pack_scrub_strips,
    render,
    render_array,
    to_display,
)
from backend.rendering.encode import encode

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "data" / "dicom"
UNCOMPRESSED = [FIXTURES / f"dcmqi/ct-3slice/0{i}.dcm" for i in (1, 2, 3)]
JPEG_LOSSLESS = [FIXTURES / "pydicom-data/bad_sequence.dcm"]
JPEG2000 = [FIXTURES / "pydicom-data/693_J2KR.dcm"]
WINDOW = Window(40.0, 400.0)


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def _rate(
    fn: Callable[[], object], *, runs: int, repeat: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, float, float]:
    """(median images/s, min, max) over `runs` runs of `repeat` calls."""
    rates = []
    for _ in range(runs):
        t0 = clock()
        for _ in range(repeat):
            fn()
        rates.append(repeat / max(clock() - t0, 1e-9))
    return statistics.median(rates), min(rates), max(rates)


def _emit(bench: str, metric: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"bench": bench, "metric": metric, "value": round(value, 2), "unit": unit, **extra}))


def _dcmread_render(paths: Sequence[Path]) -> Callable[[], object]:
    state = {"i": 0}

    def once() -> bytes:
        path = paths[state["i"] % len(paths)]
        state["i"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
        return render(source=DatasetFrameSource(ds), frame=0, window=WINDOW, width=512, fmt="jpeg", quality=85)

    return once


def _raw_source(path: Path) -> RawFrameSource:
    ds = pydicom.dcmread(path)
    offset = int(getattr(ds.get_item(0x7FE00010), "value_tell", 0))
    return RawFrameSource(path=path, offset=offset, info=DatasetFrameSource(ds).info(0))


def _raw_render(paths: Sequence[Path]) -> Callable[[], object]:
    """What ingest makes possible: offset + FrameInfo known, no header parsing per request."""
    sources = [_raw_source(path) for path in paths]
    state = {"i": 0}

    def once() -> bytes:
        source = sources[state["i"] % len(sources)]
        state["i"] += 1
        return render(source=source, frame=0, window=WINDOW, width=512, fmt="jpeg", quality=85)

    return once


def _stages(path: Path, *, runs: int, repeat: int, clock: Callable[[], float]) -> None:
    """µs per image of each stage of the raw path, for one slice (median of `runs` runs)."""
    source = _raw_source(path)
    pixels, info = source.frame(0)
    image = render_array(pixels=pixels, info=info, window=WINDOW, width=512)
    stages: dict[str, Callable[[], object]] = {
        "read_raw_frame": lambda: source.frame(0),
        "grey_pipeline": lambda: to_display(pixels, info, voi=WINDOW),
        "encode_jpeg_q85": lambda: encode(image, fmt="jpeg", quality=85),
    }
    for name, fn in stages.items():
        fn()
        rate, low, high = _rate(fn, runs=runs, repeat=repeat, clock=clock)
        _emit("render_stage", name, 1e6 / rate, "us", min=round(1e6 / high), max=round(1e6 / low))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args(argv)
    runs, repeat, clock = args.runs, args.repeat, CLOCKS[args.clock]

    cases = [
        ("uncompressed_dcmread", _dcmread_render(UNCOMPRESSED), repeat),
        ("uncompressed_raw", _raw_render(UNCOMPRESSED), repeat),
        ("jpeg_lossless_dcmread", _dcmread_render(JPEG_LOSSLESS), max(10, repeat // 4)),
        ("jpeg2000_dcmread", _dcmread_render(JPEG2000), max(10, repeat // 4)),
    ]
    for name, fn, n in cases:
        fn()  # warm caches (LUT table, imports)
        median, low, high = _rate(fn, runs=runs, repeat=n, clock=clock)
        extra = {"min": round(low, 1), "max": round(high, 1), "runs": runs, "clock": args.clock}
        _emit("render_inprocess", name, median, "images/s", **extra)
    _stages(UNCOMPRESSED[1], runs=runs, repeat=repeat, clock=clock)

    ds = pydicom.dcmread(UNCOMPRESSED[1])
    pixels, info = DatasetFrameSource(ds).frame(0)
    image = render_array(pixels=pixels, info=info, window=WINDOW, width=512)
    for fmt, quality in (("jpeg", 85), ("jpeg", 75), ("webp", 80), ("webp", 70)):
        size = len(encode(image, fmt=fmt, quality=quality))  # type: ignore[arg-type]
        _emit("preview_bytes", f"{fmt}_q{quality}_512", size, "bytes")

    tiles = []
    for path in UNCOMPRESSED:
        pixels, info = DatasetFrameSource(pydicom.dcmread(path)).frame(0)
        tiles.append(render_array(pixels=pixels, info=info, window=WINDOW, width=96))
    frames = [tiles[i % 3] for i in range(300)]
    strips = pack_scrub_strips(frames=frames, quality=70)
    _emit("scrub_strips", "total_bytes_300x96px", strips.total_bytes, "bytes", sheets=len(strips.sheets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
