"""Window presets with Chinese and English names, and the automatic window.

Standard CT windows are in Hounsfield units (modality output after Rescale, PS3.3 C.11.1). Values:
lung -600/1500, mediastinum 40/400, brain 40/80, abdomen 60/400 as the brief (and common radiology
teaching) gives them; bone 400/1800 as Radiopaedia's "Windowing (CT)" article lists it (W:1800
L:400), chosen over 300/1500 because its wider width keeps cortical bone (>1000 HU) from clipping
white.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .lut import code_view, modality_codes, modality_output
from .model import FrameInfo, Lut, VoiFunction, Window

PresetSource = Literal["file", "standard", "auto"]


@dataclass(frozen=True, slots=True)
class Preset:
    id: str
    name_zh: str
    name_en: str
    source: PresetSource
    window: Window | None = None  # None: a VOI LUT from the file, or the automatic window
    lut: Lut | None = None


CT_PRESETS: tuple[Preset, ...] = (
    Preset("lung", "肺窗", "Lung", "standard", Window(-600.0, 1500.0)),
    Preset("mediastinum", "纵隔窗", "Mediastinum", "standard", Window(40.0, 400.0)),
    Preset("bone", "骨窗", "Bone", "standard", Window(400.0, 1800.0)),
    Preset("brain", "脑窗", "Brain", "standard", Window(40.0, 80.0)),
    Preset("abdomen", "腹部", "Abdomen", "standard", Window(60.0, 400.0)),
)

AUTO = Preset("auto", "自动", "Automatic", "auto")


def presets_for(info: FrameInfo) -> list[Preset]:
    """The file's own windows first (their explanations as names), then the standard CT windows
    (only for CT, where HU make them meaningful), then the automatic window."""
    out: list[Preset] = []
    if info.grey.voi_lut is not None:
        out.append(Preset("file-lut", "设备查找表", "Device VOI LUT", "file", lut=info.grey.voi_lut))
    for i, window in enumerate(info.grey.windows):
        label = info.grey.window_explanations[i] if i < len(info.grey.window_explanations) else ""
        out.append(Preset(f"file-{i}", label or f"设备窗 {i + 1}", label or f"Device window {i + 1}", "file", window))
    if info.modality == "CT" and info.fmt.is_grey:
        out.extend(CT_PRESETS)
    out.append(AUTO)
    return out


def default_voi(info: FrameInfo, pixels: np.ndarray) -> Window | Lut:
    """The file's VOI LUT, else its first window (C.11.2: the first pair is the default), else auto.

    When both are present PS3.3 C.11.2 leaves the choice to the application; the device's LUT is
    preferred (as pydicom's apply_voi_lut does) because CR/DX processing tunes it per image.
    """
    if info.grey.voi_lut is not None:
        return info.grey.voi_lut
    if info.grey.windows:
        return info.grey.windows[0]
    if info.fmt.is_float:
        # Float pixel data (Parametric Map) without a window: its own full range.
        return auto_window(info, pixels, low=0.0, high=100.0)
    return auto_window(info, pixels)


def find_preset(info: FrameInfo, preset_id: str) -> Preset | None:
    for preset in presets_for(info):
        if preset.id == preset_id:
            return preset
    return None


def auto_window(info: FrameInfo, pixels: np.ndarray, *, low: float = 1.0, high: float = 99.0) -> Window:
    """A window spanning the 1st..99th percentile of the frame's modality values, padding excluded.

    For 8/16-bit samples the histogram is a bincount over codes (one pass, no sort of the frame),
    weighted with each code's modality value.
    """
    grey, fmt = info.grey, info.fmt
    codes = code_view(pixels)
    if codes is not None:
        bits = 8 * codes.dtype.itemsize
        counts = np.bincount(codes.ravel(), minlength=1 << bits)
        values = modality_codes(code_bits=bits, bits_stored=fmt.bits_stored, signed=fmt.signed, grey=grey)
        used = (counts > 0) & np.isfinite(values)
        if not used.any():
            return Window(center=0.0, width=1.0)
        v, c = values[used], counts[used]
        order = np.argsort(v, kind="stable")
        v, cum = v[order], np.cumsum(c[order])
        lo = float(v[np.searchsorted(cum, cum[-1] * low / 100.0)])
        hi = float(v[min(np.searchsorted(cum, cum[-1] * high / 100.0), len(v) - 1)])
        vmin, vmax = float(v[0]), float(v[-1])
    else:
        sample = pixels.ravel()[:: max(1, pixels.size // 250_000)].astype(np.float64)
        sample = modality_output(sample[np.isfinite(sample)], grey)
        if sample.size == 0:
            return Window(center=0.0, width=1.0)
        lo, hi = (float(x) for x in np.percentile(sample, [low, high]))
        vmin, vmax = float(sample.min()), float(sample.max())
    if hi <= lo:  # a nearly flat image (or a binary mask): use the full range instead
        lo, hi = vmin, vmax
    if hi <= lo:
        return Window(center=lo, width=1.0)
    # LINEAR_EXACT maps exactly lo -> black and hi -> white (C.11.2.1.3.2).
    return Window(center=(lo + hi) / 2.0, width=hi - lo, function="LINEAR_EXACT")


_QUERY_FUNCTIONS: dict[str, VoiFunction] = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}


def window_from_query(value: str) -> Window:
    """Parse a DICOMweb `window=center,width[,function]` parameter (PS3.18 Retrieve Rendered; function:
    linear, linear-exact or sigmoid). Raises ValueError with a reason for anything else."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (2, 3):
        raise ValueError("window must be center,width[,function]")
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError("window center and width must be numbers") from None
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0 or abs(center) > 1e9 or width > 1e9:
        raise ValueError("window width must be positive and both values finite")
    function = _QUERY_FUNCTIONS.get(parts[2].lower() if len(parts) == 3 else "linear")
    if function is None:
        raise ValueError("window function must be linear, linear-exact or sigmoid")
    if function == "LINEAR" and width < 1:
        raise ValueError("a linear window needs width >= 1 (PS3.3 C.11.2.1.2.1)")
    return Window(center=center, width=width, function=function)
