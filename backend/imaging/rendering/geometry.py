"""Aspect correction and resizing to the fixed preview widths.

Previews come in a small fixed set of widths so that every viewer shares (and caches) the same
files. A preview is never upscaled: the phone's browser scales a small image up as well as we
could, and bytes stay small.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PREVIEW_WIDTHS: tuple[int, ...] = (128, 256, 512, 1024)
MAX_ORIGINAL_WIDTH = 2048  # "original" is capped: a 4k CR is not sent to a phone at full size


def output_size(*, rows: int, columns: int, pixel_aspect: float, width: int | None) -> tuple[int, int]:
    """(width, height) of the preview.

    `pixel_aspect` is physical row spacing / column spacing: a pixel that is taller than wide
    (aspect > 1) must be drawn taller, so the displayed height is rows * aspect column-pixels.
    `width=None` means the original width (capped at MAX_ORIGINAL_WIDTH).
    """
    target = MAX_ORIGINAL_WIDTH if width is None else width
    out_w = max(1, min(columns, target, MAX_ORIGINAL_WIDTH))
    out_h = max(1, round(out_w * rows * pixel_aspect / columns))
    return out_w, out_h


def snap_width(requested: int | None) -> int | None:
    """The smallest preset width that covers `requested` (None: original). Keeps caches shared."""
    if requested is None:
        return None
    for w in PREVIEW_WIDTHS:
        if requested <= w:
            return w
    return None


def resize(image: np.ndarray, *, size: tuple[int, int]) -> np.ndarray:
    """Resample a uint8 (H, W) or (H, W, 3) image to `size` = (width, height).

    Downsampling uses Pillow's LANCZOS with reducing_gap: a fast integer box reduction first, then
    Lanczos over the last factor < 2 - close to plain Lanczos in quality at a fraction of the cost.
    """
    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    pil = Image.fromarray(image)
    shrinking = size[0] <= w and size[1] <= h
    out = pil.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0 if shrinking else None)
    return np.asarray(out)
