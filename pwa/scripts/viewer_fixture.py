"""Writes a synthetic CT series (a chest phantom in Hounsfield units) as scrub sheets + previews,
for screenshots of the viewer before the backend's preview API exists. Dev tool, not shipped.

Usage: ../.venv/bin/python scripts/viewer_fixture.py OUT_DIR [FRAMES]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from backend.rendering.encode import encode
from backend.rendering.scrub import pack_scrub_strips

WINDOWS = {"auto": (40.0, 400.0), "lung": (-600.0, 1500.0), "mediastinum": (40.0, 400.0), "bone": (400.0, 1800.0)}


def phantom(z: float, size: int) -> np.ndarray:
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    hu = np.full((size, size), -1000.0)
    body = (x / 0.85) ** 2 + (y / 0.62) ** 2 < 1
    hu[body] = 30.0
    lung_r = 0.5 + 0.15 * np.sin(np.pi * z)
    for cx in (-0.38, 0.38):
        lung = ((x - cx) / (0.28 * lung_r / 0.5)) ** 2 + ((y + 0.02) / (0.42 * lung_r / 0.5)) ** 2 < 1
        hu[lung] = -820.0
        vessels = lung & (np.sin(18 * x + 7 * z) * np.cos(15 * y) > 0.93)
        hu[vessels] = 40.0
    heart = ((x - 0.08) / 0.22) ** 2 + ((y - 0.12) / (0.2 + 0.05 * z)) ** 2 < 1
    hu[heart] = 45.0
    spine = (x / 0.09) ** 2 + ((y - 0.45) / 0.09) ** 2 < 1
    hu[spine] = 700.0
    rng = np.random.default_rng(int(z * 1000))
    return hu + rng.normal(0, 12, hu.shape)


def window(hu: np.ndarray, c: float, w: float) -> np.ndarray:
    return (np.clip((hu - (c - w / 2)) / w, 0, 1) * 255).astype(np.uint8)


def main() -> None:
    out = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    out.mkdir(parents=True, exist_ok=True)
    tiles = []
    for i in range(n):
        hu = phantom(i / max(1, n - 1), 512)
        tiles.append(window(hu[::4, ::4], *WINDOWS["auto"]))
        for name, (c, w) in WINDOWS.items():
            d = out / "previews" / name
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i}.jpg").write_bytes(encode(window(hu, c, w), fmt="jpeg", quality=85))
    strips = pack_scrub_strips(frames=tiles, quality=70)
    for k, sheet in enumerate(strips.sheets):
        (out / f"sheet-{k}.jpg").write_bytes(sheet)
    (out / "layout.json").write_text(json.dumps(strips.layout))
    print(f"{n} frames, {len(strips.sheets)} sheets, {strips.total_bytes} bytes of sheets")


if __name__ == "__main__":
    main()
