"""Value types of the rendering core: what a frame is and how its values become grey levels.

All frozen and hashable so that lookup tables built from them can be cached (`lut.py`): a series
of 300 CT slices usually shares one rescale and one window, hence one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# PS3.3 C.11.2.1.3 VOI LUT Function (0028,1056): the defined terms.
VoiFunction = Literal["LINEAR", "LINEAR_EXACT", "SIGMOID"]
VOI_FUNCTIONS: tuple[VoiFunction, ...] = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window (PS3.3 C.11.2.1.2) in modality output units (Hounsfield units for CT)."""

    center: float
    width: float
    function: VoiFunction = "LINEAR"


@dataclass(frozen=True, slots=True)
class Lut:
    """A LUT from a Modality LUT Sequence (C.11.1) or VOI LUT Sequence (C.11.2.1.1).

    `first_mapped` is the second value of LUT Descriptor (the input value mapped to entry 0);
    `bits` the declared bits per output entry; `data` the entries as native-endian uint16 bytes
    (bytes hash once and cache the hash, so a Lut is a cheap cache key).
    """

    first_mapped: int
    bits: int
    data: bytes

    def values(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.uint16)

    @property
    def output_max(self) -> int:
        """Largest output value: the declared bit depth, widened if the data contradicts it.

        Some writers declare 8 bits and store 16-bit values (or declare 12 and use 16). DCMTK and
        pydicom both tolerate this; trusting the data keeps such images from clipping to white.
        """
        declared = (1 << max(1, min(self.bits, 16))) - 1
        actual = int(self.values().max()) if self.data else 0
        if actual <= declared:
            return declared
        return (1 << int(actual).bit_length()) - 1


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """Image Pixel Module attributes (PS3.3 C.7.6.3) that decide how samples are interpreted."""

    rows: int
    columns: int
    samples_per_pixel: int = 1
    bits_allocated: int = 16
    bits_stored: int = 16
    pixel_representation: int = 0  # 0 unsigned, 1 two's complement
    photometric: str = "MONOCHROME2"
    number_of_frames: int = 1
    is_float: bool = False  # Float / Double Float Pixel Data (7FE0,0008/0009)

    @property
    def signed(self) -> bool:
        return self.pixel_representation == 1

    @property
    def is_grey(self) -> bool:
        return self.photometric in ("MONOCHROME1", "MONOCHROME2")


@dataclass(frozen=True, slots=True)
class GreyParams:
    """Everything between stored values and grey levels for one frame (PS3.3 C.11).

    For enhanced objects these come from the frame's functional groups (C.7.6.16.2.9 Pixel Value
    Transformation, C.7.6.16.2.10 Frame VOI LUT), per-frame overriding shared.
    """

    slope: float = 1.0
    intercept: float = 0.0
    modality_lut: Lut | None = None
    windows: tuple[Window, ...] = ()
    window_explanations: tuple[str, ...] = ()
    voi_lut: Lut | None = None
    # MONOCHROME1 or Presentation LUT Shape INVERSE: one inversion (C.7.6.3.1.2, C.11.6.1).
    invert: bool = False
    # Pixel Padding Value / Range Limit (C.7.5.1.1.2), inclusive, in stored values.
    padding: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Palette:
    """Palette Color Lookup Tables (C.7.6.3.1.5/6, segmented C.7.9.2), expanded, 8-bit output."""

    first_mapped: int
    rgb: bytes  # n x 3 uint8, row-major

    def table(self) -> np.ndarray:
        return np.frombuffer(self.rgb, dtype=np.uint8).reshape(-1, 3)


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What the renderer needs to know about one frame besides its samples."""

    fmt: PixelFormat
    grey: GreyParams = field(default_factory=GreyParams)
    palette: Palette | None = None
    # Physical height / width of one pixel: Pixel Spacing (PS3.3 10.7.1.3, row spacing first),
    # Imager Pixel Spacing (C.8.11.4) or Pixel Aspect Ratio (C.7.6.3.1.7). 1.0 = square pixels.
    pixel_aspect: float = 1.0
    modality: str = ""
