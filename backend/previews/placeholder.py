"""The image shown instead of a thumbnail that cannot be rendered (a viewer's grid must not break)."""

from __future__ import annotations

import functools

import numpy as np

from backend.rendering.encode import encode


@functools.lru_cache(maxsize=8)
def placeholder_jpeg(width: int) -> bytes:
    """A dark square with a light diagonal cross: visibly "no image", never mistaken for anatomy."""
    size = max(16, min(width, 1024))
    image = np.full((size, size), 48, dtype=np.uint8)
    idx = np.arange(size)
    for offset in (-1, 0, 1):
        j = np.clip(idx + offset, 0, size - 1)
        image[idx, j] = 160
        image[idx, size - 1 - j] = 160
    return encode(image, fmt="jpeg", quality=80)
