"""Rendering core of issue 4: DICOM frames to phone-sized JPEG/WebP previews.

    render(source=DatasetFrameSource(ds), frame=0, window=None, width=512, fmt="jpeg", quality=85)

`render_array` is the pure part (samples + header facts in, uint8 pixels out); `render` adds the
frame source (decode) and the encoder. Pipeline, in PS3.3 order: Modality LUT (C.11.1) -> VOI LUT
(C.11.2) -> Presentation LUT / MONOCHROME1 inversion (C.11.6, C.7.6.3.1.2) for grey images; the
YCbCr transforms or the palette (C.7.6.3.1.2, C.7.9) for colour; then aspect correction and resize.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from .color import apply_palette, to_rgb8
from .encode import Format, encode
from .errors import RenderError
from .frames import DatasetFrameSource, FrameSource, Limits, RawFrameSource, read_raw_frame
from .geometry import output_size, resize
from .lut import grey_to_uint8
from .model import FrameInfo, Lut, Window
from .presets import Preset, default_voi, find_preset, presets_for, window_from_query
from .scrub import ScrubStrips, pack_scrub_strips

# Part of every preview cache key: bump when the output changes. 2: grey JPEG baseline is decoded by
# libjpeg-turbo (fastcodecs.py), whose samples differ from libjpeg 9's by up to 1 in places.
RENDERER_VERSION = "2"

__all__ = [
    "RENDERER_VERSION",
    "DatasetFrameSource",
    "FrameInfo",
    "FrameSource",
    "Limits",
    "Preset",
    "RawFrameSource",
    "RenderError",
    "ScrubStrips",
    "Window",
    "find_preset",
    "pack_scrub_strips",
    "presets_for",
    "read_raw_frame",
    "render",
    "render_array",
    "to_display",
    "window_from_query",
]


def to_display(pixels: np.ndarray, info: FrameInfo, *, voi: Window | Lut | None = None) -> np.ndarray:
    """Samples -> uint8 (H, W) grey or (H, W, 3) RGB at the stored resolution."""
    fmt = info.fmt
    if info.palette is not None:
        return apply_palette(pixels, info.palette)
    if fmt.samples_per_pixel == 3:
        return to_rgb8(pixels, photometric=fmt.photometric, bits_stored=fmt.bits_stored)
    if pixels.ndim != 2:
        raise RenderError(message_en=f"unexpected frame shape {pixels.shape}", message_zh="像素数据维度异常")
    chosen = voi if voi is not None else default_voi(info, pixels)
    return grey_to_uint8(pixels, bits_stored=fmt.bits_stored, signed=fmt.signed, grey=info.grey, voi=chosen)


def render_array(
    *, pixels: np.ndarray, info: FrameInfo, window: Window | Lut | None = None, width: int | None = None
) -> np.ndarray:
    """One frame's samples -> the preview's uint8 pixels (aspect corrected, resized to `width`)."""
    image = to_display(pixels, info, voi=window)
    size = output_size(rows=image.shape[0], columns=image.shape[1], pixel_aspect=info.pixel_aspect, width=width)
    return resize(image, size=size)


def render(
    *,
    source: FrameSource | Dataset,
    frame: int = 0,
    window: Window | Lut | None = None,
    width: int | None = 512,
    fmt: Format = "jpeg",
    quality: int = 85,
) -> bytes:
    """Decode `frame` from `source`, render it and encode it. Raises RenderError with a reason."""
    if isinstance(source, Dataset):
        source = DatasetFrameSource(source)
    pixels, info = source.frame(frame)
    return encode(render_array(pixels=pixels, info=info, window=window, width=width), fmt=fmt, quality=quality)
