"""Scrub strips: every frame of a series, small, packed into a few sprite-sheet JPEGs + a layout.

A phone fetches the layout and one or two sheets and can then scrub the whole series by drawing
the right tile (CSS background-position or canvas drawImage), swapping in sharp previews around
the current slice. Pure: frames in, encoded bytes and a JSON-able dict out.

Cells are aligned to 16 px, the largest JPEG MCU (8x8 blocks, 16x16 with 4:2:0 chroma), so the
DCT blocks never straddle two frames and no frame bleeds into its neighbour. Sheets are kept to
at most 2048 px per side (about 4 MP): safely below the image-decoding limits of mobile browsers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .encode import Format, encode

MCU = 16


@dataclass(frozen=True, slots=True)
class ScrubStrips:
    sheets: list[bytes]
    layout: dict[str, Any]

    @property
    def total_bytes(self) -> int:
        return sum(len(s) for s in self.sheets)


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


def pack_scrub_strips(
    *, frames: Sequence[np.ndarray], quality: int = 70, fmt: Format = "jpeg", max_sheet_side: int = 2048
) -> ScrubStrips:
    """Pack uint8 frames ((H, W) grey or (H, W, 3) RGB, already rendered small) into sheets.

    Layout: tile = the frames' size, cell = tile rounded up to the MCU (the stride on the sheet),
    `frames[i] = [sheet, x, y]` is the top-left of frame i. Frames smaller than the tile sit at
    their cell's top-left on a black background.
    """
    if not frames:
        raise ValueError("no frames to pack")
    tile_h = max(f.shape[0] for f in frames)
    tile_w = max(f.shape[1] for f in frames)
    cell_w, cell_h = _ceil_to(tile_w, MCU), _ceil_to(tile_h, MCU)
    if cell_w > max_sheet_side or cell_h > max_sheet_side:
        raise ValueError("frames are larger than a sheet; render them smaller first")
    colour = any(f.ndim == 3 for f in frames)
    columns = min(len(frames), max_sheet_side // cell_w)
    per_sheet = columns * (max_sheet_side // cell_h)
    sheets: list[bytes] = []
    sheet_meta: list[dict[str, int]] = []
    positions: list[list[int]] = []
    for first in range(0, len(frames), per_sheet):
        chunk = frames[first : first + per_sheet]
        rows = -(-len(chunk) // columns)
        shape: tuple[int, ...] = (rows * cell_h, columns * cell_w) + ((3,) if colour else ())
        canvas = np.zeros(shape, dtype=np.uint8)
        for i, frame in enumerate(chunk):
            y, x = (i // columns) * cell_h, (i % columns) * cell_w
            if colour and frame.ndim == 2:
                frame = np.repeat(frame[..., None], 3, axis=-1)
            canvas[y : y + frame.shape[0], x : x + frame.shape[1]] = frame
            positions.append([len(sheets), x, y])
        sheets.append(encode(canvas, fmt=fmt, quality=quality))
        sheet_meta.append({"width": shape[1], "height": shape[0], "first_frame": first, "count": len(chunk)})
    layout: dict[str, Any] = {
        "version": 1,
        "format": fmt,
        "frame_count": len(frames),
        "tile": {"width": tile_w, "height": tile_h},
        "cell": {"width": cell_w, "height": cell_h},
        "columns": columns,
        "sheets": sheet_meta,
        "frames": positions,
    }
    return ScrubStrips(sheets=sheets, layout=layout)
