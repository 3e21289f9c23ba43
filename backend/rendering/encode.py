"""Encoders: uint8 pixels -> JPEG or WebP bytes.

Baseline (non-progressive) JPEG: progressive costs encode time and phones show a 512-px preview in
one go anyway. Huffman `optimize` is off by default: measured on CT previews it saves a few percent
of bytes for a noticeable encode cost (see the report of issue 4). Colour JPEG uses 4:2:0 chroma
subsampling except at high quality, where 4:4:4 keeps thin colour-Doppler structures crisp.

JPEG goes through imagecodecs' libjpeg-turbo binding when it is importable, else through Pillow.
Both drive libjpeg-turbo with the same settings (IJG quality scale via jpeg_set_quality, baseline,
islow DCT, the same JFIF header), and the output is byte-for-byte the same: checked for grey and
RGB at qualities 50..100, with and without `optimize`, on odd sizes (test_render_speed_encode.py).
What the binding saves is Pillow's per-image overhead (Image wrapper, RGB -> RGBX unpacking, chunked
writes into BytesIO): on one slow core, median of 7 x 200 encodes, a 512x512 CT q85 took 0.88 ms
vs 0.99 ms, a 512x384 RGB ultrasound q85 0.73 vs 1.24 ms. simplejpeg was measured too (0.84 / 0.75
ms) but its output differs from Pillow's by up to 16 grey levels in places, so it is not used.
WebP stays on Pillow: imagecodecs' libwebp gave the same bytes at no measurable gain (both ~15-20 ms).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Literal

import numpy as np
from PIL import Image

Format = Literal["jpeg", "webp"]
MEDIA_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "webp": "image/webp"}

JpegEncoder = Callable[..., bytes]


def _load_turbo() -> JpegEncoder | None:
    try:
        import imagecodecs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    if not imagecodecs.JPEG8.available:
        return None
    encoder: JpegEncoder = imagecodecs.jpeg8_encode
    return encoder


_turbo_encode: JpegEncoder | None = _load_turbo()


def _subsampling(image: np.ndarray, quality: int) -> str | None:
    """'444' / '420' for RGB, None for grey (the encoder then writes one component)."""
    if image.ndim == 3:
        return "444" if quality >= 90 else "420"
    return None


def _turbo_fits(image: np.ndarray) -> bool:
    """The shapes the renderer produces: uint8 (H, W) grey or (H, W, 3) RGB. Anything else keeps
    Pillow's behaviour (its mode inference and its errors)."""
    if image.dtype != np.uint8 or image.size == 0:
        return False
    return image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)


def _jpeg_turbo(image: np.ndarray, *, quality: int, optimize: bool) -> bytes | None:
    if _turbo_encode is None or not _turbo_fits(image):
        return None
    try:
        out = _turbo_encode(image, level=quality, subsampling=_subsampling(image, quality), optimize=optimize)
    except Exception:  # noqa: BLE001 - a binding quirk costs speed, never the image: Pillow below
        return None
    return bytes(out)


def _jpeg_pillow(image: np.ndarray, *, quality: int, optimize: bool) -> bytes:
    pil = Image.fromarray(image)
    buf = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "optimize": optimize, "progressive": False}
    if pil.mode == "RGB":
        options["subsampling"] = "4:4:4" if quality >= 90 else "4:2:0"  # the rule of _subsampling
    pil.save(buf, format="JPEG", **options)
    return buf.getvalue()


def encode(image: np.ndarray, *, fmt: Format, quality: int, optimize: bool = False) -> bytes:
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, got {quality}")
    image = np.ascontiguousarray(image)
    if fmt == "jpeg":
        fast = _jpeg_turbo(image, quality=quality, optimize=optimize)
        return fast if fast is not None else _jpeg_pillow(image, quality=quality, optimize=optimize)
    if fmt == "webp":
        # method 2: measured on a 512 CT preview, 9 ms and 40.6 kB vs the default method 4 at 23 ms and
        # 40.0 kB (method 0: 9 ms, 48.6 kB). WebP stays ~20x slower to encode than JPEG (0.5 ms).
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="WEBP", quality=quality, method=2)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}")
