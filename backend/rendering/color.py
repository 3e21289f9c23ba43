"""Colour images to 8-bit RGB: YCbCr families, planar configuration and palette colour. Pure numpy.

What the decoders return (checked on the fixtures with pydicom 3.0 + pylibjpeg): JPEG baseline
YBR_FULL_422 / YBR_FULL come back as RGB (pydicom converts, `as_rgb=True`), JPEG 2000 YBR_RCT /
YBR_ICT come back as RGB (OpenJPEG applies the inverse component transform), and the decoder's
metadata says "RGB". The conversions below are for data that reaches us still in YCbCr: native
(uncompressed) YBR_FULL, the raw fast path, or a decoder that skipped the transform.
"""

from __future__ import annotations

import numpy as np

from .errors import MalformedImage, UnsupportedImage
from .model import Palette


def interleave(samples: np.ndarray, *, planar_configuration: int) -> np.ndarray:
    """Planar Configuration (C.7.6.3.1.3): 1 = colour-by-plane (R..R G..G B..B) -> (H, W, 3)."""
    if planar_configuration == 1 and samples.ndim == 3 and samples.shape[0] == 3:
        return np.ascontiguousarray(np.moveaxis(samples, 0, -1))
    return samples


def ybr_full_to_rgb(ybr: np.ndarray) -> np.ndarray:
    """YBR_FULL / YBR_FULL_422 (after upsampling) / YBR_ICT -> RGB, 8-bit.

    PS3.3 C.7.6.3.1.2 gives YBR_FULL as the full-range ITU-R BT.601 transform; YBR_ICT is the
    JPEG 2000 irreversible component transform with the same coefficients (ISO 15444-1 G.3).
    """
    x = ybr.astype(np.float32)
    y, cb, cr = x[..., 0], x[..., 1] - 128.0, x[..., 2] - 128.0
    rgb = np.empty_like(x)
    rgb[..., 0] = y + 1.402 * cr
    rgb[..., 1] = y - 0.344136 * cb - 0.714136 * cr
    rgb[..., 2] = y + 1.772 * cb
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def ybr_rct_to_rgb(ybr: np.ndarray) -> np.ndarray:
    """YBR_RCT -> RGB: the JPEG 2000 reversible transform (C.7.6.3.1.2, ISO 15444-1 G.2).

    G = Y - floor((Cb + Cr) / 4), R = Cr + G, B = Cb + G on DC-level-shifted components; an 8-bit
    decoder output carries +128 on each component, hence the offsets.
    """
    x = ybr.astype(np.int32)
    y, cb, cr = x[..., 0], x[..., 1] - 128, x[..., 2] - 128
    g = y - np.floor_divide(cb + cr, 4)
    rgb = np.stack([cr + g, g, cb + g], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def to_rgb8(samples: np.ndarray, *, photometric: str, bits_stored: int = 8) -> np.ndarray:
    """Three-sample pixels in the given photometric interpretation -> (H, W, 3) uint8 RGB."""
    if samples.ndim != 3 or samples.shape[-1] != 3:
        raise MalformedImage(
            message_en=f"expected 3 samples per pixel for {photometric}, got shape {samples.shape}",
            message_zh="彩色图像的样本数与像素数据不符",
        )
    if samples.dtype != np.uint8:
        # RGB with more than 8 bits (rare: 16-bit secondary captures): keep the top 8 bits stored.
        shift = max(0, min(bits_stored, 16) - 8)
        samples = np.clip(samples.astype(np.int64) >> shift, 0, 255).astype(np.uint8)
    if photometric == "RGB":
        return samples
    if photometric in ("YBR_FULL", "YBR_FULL_422", "YBR_ICT"):
        return ybr_full_to_rgb(samples)
    if photometric == "YBR_RCT":
        return ybr_rct_to_rgb(samples)
    raise UnsupportedImage(
        message_en=f"photometric interpretation {photometric!r} is not supported",
        message_zh=f"不支持的光度解释 {photometric}",
    )


def expand_segmented(words: np.ndarray) -> np.ndarray:
    """Expand Segmented Palette Color LUT Data (PS3.3 C.7.9.2) into a plain table.

    Segments: opcode 0 discrete (n values follow), 1 linear (n steps from the previous value to the
    next word), 2 indirect (re-play n segments starting at a 32-bit word offset, low word first).
    """
    out: list[float] = []
    _expand(words.astype(np.int64), 0, len(words), out, depth=0)
    return np.asarray(out, dtype=np.float64)


def _expand(words: np.ndarray, start: int, stop: int, out: list[float], *, depth: int, limit: int = -1) -> int:
    if depth > 4:
        raise MalformedImage(message_en="segmented palette nests too deeply", message_zh="分段调色板嵌套过深")
    pos, done = start, 0
    while pos + 1 < stop and done != limit:
        opcode, length = int(words[pos]), int(words[pos + 1])
        if opcode == 0:
            out.extend(words[pos + 2 : pos + 2 + length].tolist())
            pos += 2 + length
        elif opcode == 1:
            if not out:
                raise MalformedImage(message_en="linear segment without a start value", message_zh="调色板分段数据有误")
            y0, y1 = out[-1], float(words[pos + 2])
            steps = np.arange(1, length + 1, dtype=np.float64) / max(length, 1)
            out.extend((y0 + (y1 - y0) * steps).tolist())
            pos += 3
        elif opcode == 2:
            offset = int(words[pos + 2]) | (int(words[pos + 3]) << 16)
            _expand(words, offset, stop, out, depth=depth + 1, limit=length)
            pos += 4
        else:
            raise MalformedImage(message_en=f"unknown palette segment opcode {opcode}", message_zh="调色板分段数据有误")
        done += 1
        if len(out) > 1 << 16:
            raise MalformedImage(message_en="segmented palette longer than 65536", message_zh="调色板过长")
    return pos


def make_palette(*, first_mapped: int, bits: int, red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> Palette:
    """Three expanded channel tables -> an 8-bit RGB palette (C.7.6.3.1.5: 8 or 16 bits per entry)."""
    n = min(len(red), len(green), len(blue))
    if n == 0:
        raise MalformedImage(message_en="empty palette colour table", message_zh="调色板为空")
    rgb = np.stack([red[:n], green[:n], blue[:n]], axis=-1).astype(np.float64)
    if bits == 16 or rgb.max() > 255:
        rgb = rgb / 257.0  # 0..65535 -> 0..255 exactly at both ends
    table = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return Palette(first_mapped=first_mapped, rgb=table.tobytes())


def apply_palette(indices: np.ndarray, palette: Palette) -> np.ndarray:
    """Palette lookup; indices outside the table take the first/last entry (C.7.6.3.1.5)."""
    table = palette.table()
    idx = indices.astype(np.int64) - palette.first_mapped
    np.clip(idx, 0, len(table) - 1, out=idx)
    return table[idx]
