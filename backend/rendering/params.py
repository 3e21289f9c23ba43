"""Read the rendering parameters of one frame out of a pydicom Dataset (header only, no pixels).

Defensive throughout: a missing or unparsable attribute falls back to the standard's default where
one exists, and becomes a `MalformedImage` where none does (Rows, Columns, Number of Frames).
Enhanced multi-frame objects: the Shared Functional Groups (5200,9229) apply to every frame and a
frame's Per-Frame Functional Groups (5200,9230) item overrides them (PS3.3 C.7.6.16).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from .color import expand_segmented, make_palette
from .errors import MalformedImage, NoPixelData, UnsupportedImage
from .model import VOI_FUNCTIONS, FrameInfo, GreyParams, Lut, Palette, PixelFormat, VoiFunction, Window

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _get(ds: Dataset, keyword: str) -> Any:
    """Attribute value or None; never raises for a malformed value (it is treated as absent)."""
    try:
        return ds.get(keyword)
    except Exception:  # noqa: BLE001 - pydicom raises many types for bad values
        return None


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = _get(ds, keyword)
    if value is None or value == "":
        if default is None:
            raise MalformedImage(message_en=f"{keyword} is missing", message_zh=f"影像缺少必需的属性 {keyword}")
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise MalformedImage(
            message_en=f"{keyword} has an invalid value {value!r}",
            message_zh=f"影像属性 {keyword} 的值无效",
        ) from None


def pixel_format(ds: Dataset) -> PixelFormat:
    """Image Pixel Module (C.7.6.3) and Multi-frame Module (C.7.6.6) attributes, validated."""
    if not any(k in ds for k in PIXEL_KEYWORDS):
        raise NoPixelData(message_en="the object has no pixel data", message_zh="该对象不含图像像素数据")
    is_float = "PixelData" not in ds
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    frames = _int(ds, "NumberOfFrames", 1)
    bits_allocated = _int(ds, "BitsAllocated", 64 if "DoubleFloatPixelData" in ds else 32 if is_float else None)
    bits_stored = _int(ds, "BitsStored", bits_allocated)
    samples = _int(ds, "SamplesPerPixel", 1)
    photometric = str(_get(ds, "PhotometricInterpretation") or "MONOCHROME2").strip().upper()
    if rows <= 0 or columns <= 0 or frames <= 0 or samples not in (1, 3):
        raise MalformedImage(
            message_en=f"invalid image size {rows}x{columns}, {frames} frames, {samples} samples",
            message_zh="影像尺寸、帧数或样本数无效",
        )
    if not 1 <= bits_stored <= bits_allocated <= 64:
        raise MalformedImage(
            message_en=f"invalid bit depth: stored {bits_stored}, allocated {bits_allocated}",
            message_zh="影像位深无效",
        )
    return PixelFormat(
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=_int(ds, "PixelRepresentation", 0),
        photometric=photometric,
        number_of_frames=frames,
        is_float=is_float,
    )


def _little_endian(ds: Dataset) -> bool:
    encoding = getattr(ds, "original_encoding", (None, None))
    return encoding[1] is not False


def _words(value: Any, *, little: bool, entries: int | None = None) -> np.ndarray:
    """LUT Data as integers: a list (US) as-is, OW bytes as 16-bit words in the dataset's byte order
    (or 8-bit when the byte count equals the number of entries)."""
    if isinstance(value, bytes | bytearray):
        if entries is not None and len(value) == entries:
            return np.frombuffer(value, dtype=np.uint8).astype(np.int64)
        usable = len(value) - len(value) % 2
        return np.frombuffer(value[:usable], dtype="<u2" if little else ">u2").astype(np.int64)
    return np.asarray(_values(value), dtype=np.int64)


def _lut(item: Dataset, *, little: bool) -> Lut | None:
    """A Modality or VOI LUT Sequence item (C.11.1, C.11.2.1.1): LUT Descriptor + LUT Data."""
    descriptor = _values(_get(item, "LUTDescriptor"))
    data = _get(item, "LUTData")
    if len(descriptor) != 3 or data is None:
        return None
    entries = int(descriptor[0]) or 65536  # C.11.1.1.1: 0 means 2^16 entries
    values = _words(data, little=little, entries=entries)[:entries]
    if values.size == 0:
        return None
    first = int(descriptor[1])
    return Lut(
        first_mapped=first,
        bits=int(descriptor[2]),
        data=np.clip(values, 0, 65535).astype(np.uint16).tobytes(),
    )


def _windows(ds: Dataset) -> tuple[tuple[Window, ...], tuple[str, ...]]:
    """Window Center/Width (C.11.2.1.2): multi-valued pairs; the first is the default."""
    centers = [_float(v) for v in _values(_get(ds, "WindowCenter"))]
    widths = [_float(v) for v in _values(_get(ds, "WindowWidth"))]
    explanations = [str(v) for v in _values(_get(ds, "WindowCenterWidthExplanation"))]
    raw_function = str(_get(ds, "VOILUTFunction") or "LINEAR").strip().upper()
    function: VoiFunction = "LINEAR"
    for name in VOI_FUNCTIONS:
        if raw_function == name:
            function = name
    windows: list[Window] = []
    labels: list[str] = []
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        if c is None or w is None or w <= 0:
            continue
        windows.append(Window(center=c, width=w, function=function))
        labels.append(explanations[i] if i < len(explanations) else "")
    return tuple(windows), tuple(labels)


def _frame_groups(ds: Dataset, frame: int) -> list[Dataset]:
    """Functional group items that apply to `frame`, shared first so per-frame ones win."""
    groups: list[Dataset] = []
    for keyword, index in (
        ("SharedFunctionalGroupsSequence", 0),
        ("PerFrameFunctionalGroupsSequence", frame),
    ):
        seq = _get(ds, keyword)
        if seq is not None and 0 <= index < len(seq):
            groups.append(seq[index])
    return groups


def _group_item(groups: list[Dataset], keyword: str) -> Dataset | None:
    found: Dataset | None = None
    for group in groups:
        seq = _get(group, keyword)
        if seq:
            found = seq[0]
    return found


def grey_params(ds: Dataset, *, frame: int, fmt: PixelFormat) -> GreyParams:
    little = _little_endian(ds)
    groups = _frame_groups(ds, frame)
    # C.7.6.16.2.9 Pixel Value Transformation, else the image's own Modality LUT Module (C.11.1).
    rescale = _group_item(groups, "PixelValueTransformationSequence") or ds
    slope = _float(_get(rescale, "RescaleSlope"))
    intercept = _float(_get(rescale, "RescaleIntercept"))
    modality_seq = _get(ds, "ModalityLUTSequence")
    modality_lut = _lut(modality_seq[0], little=little) if modality_seq else None
    # C.7.6.16.2.10 Frame VOI LUT, else the VOI LUT Module (C.11.2).
    voi_source = _group_item(groups, "FrameVOILUTSequence") or ds
    windows, explanations = _windows(voi_source)
    voi_seq = _get(voi_source, "VOILUTSequence")
    voi_lut = _lut(voi_seq[0], little=little) if voi_seq else None
    shape = str(_get(ds, "PresentationLUTShape") or "").strip().upper()
    return GreyParams(
        slope=slope if slope else 1.0,  # absent, unparsable or 0: identity (0 would erase the image)
        intercept=intercept if intercept is not None else 0.0,
        modality_lut=modality_lut,
        windows=windows,
        window_explanations=explanations,
        voi_lut=voi_lut,
        invert=fmt.photometric == "MONOCHROME1" or shape == "INVERSE",
        padding=_padding(ds, fmt),
    )


def _padding(ds: Dataset, fmt: PixelFormat) -> tuple[int, int] | None:
    """Pixel Padding Value and Range Limit (C.7.5.1.1.2), in stored values."""
    values = [_padding_value(_get(ds, k), fmt) for k in ("PixelPaddingValue", "PixelPaddingRangeLimit")]
    if values[0] is None:
        return None
    return (values[0], values[1] if values[1] is not None else values[0])


def _padding_value(value: Any, fmt: PixelFormat) -> int | None:
    if value is None:
        return None
    if isinstance(value, bytes):  # ambiguous US/SS left undecoded
        if len(value) < 2:
            return None
        value = int.from_bytes(value[:2], "little", signed=fmt.signed)
    v = _float(value)
    if v is None:
        return None
    if fmt.signed and v >= 1 << (fmt.bits_stored - 1):
        v -= 1 << min(fmt.bits_allocated, 16)  # an SS value read as US
    return int(v)


def palette(ds: Dataset) -> Palette:
    """Palette Color Lookup Table Module (C.7.9): plain (C.7.6.3.1.6) or segmented (C.7.9.2) data."""
    little = _little_endian(ds)
    descriptor = _values(_get(ds, "RedPaletteColorLookupTableDescriptor"))
    if len(descriptor) != 3:
        raise MalformedImage(
            message_en="palette colour image without a LUT descriptor", message_zh="调色板图像缺少查找表"
        )
    entries, first, bits = int(descriptor[0]) or 65536, int(descriptor[1]), int(descriptor[2])
    channels: list[np.ndarray] = []
    for colour in ("Red", "Green", "Blue"):
        plain = _get(ds, f"{colour}PaletteColorLookupTableData")
        segmented = _get(ds, f"Segmented{colour}PaletteColorLookupTableData")
        if plain is not None:
            words = _words(plain, little=little, entries=entries)
            channels.append(words[:entries].astype(np.float64))
        elif segmented is not None:
            channels.append(expand_segmented(_words(segmented, little=little))[:entries])
        else:
            raise MalformedImage(
                message_en=f"palette colour image lacks {colour} LUT data", message_zh="调色板数据不完整"
            )
    return make_palette(first_mapped=first, bits=bits, red=channels[0], green=channels[1], blue=channels[2])


def pixel_aspect(ds: Dataset, *, frame: int = 0) -> float:
    """Physical row spacing / column spacing of a pixel (1.0 when unknown or implausible).

    Pixel Spacing (PS3.3 10.7.1.3, row spacing first; in the Pixel Measures functional group for
    enhanced objects), else Imager Pixel Spacing (C.8.11.4), else Pixel Aspect Ratio (C.7.6.3.1.7,
    vertical\\horizontal).
    """
    measures = _group_item(_frame_groups(ds, frame), "PixelMeasuresSequence")
    candidates = [
        _values(_get(measures, "PixelSpacing")) if measures is not None else [],
        _values(_get(ds, "PixelSpacing")),
        _values(_get(ds, "ImagerPixelSpacing")),
        _values(_get(ds, "PixelAspectRatio")),
    ]
    for pair in candidates:
        if len(pair) == 2:
            row, col = _float(pair[0]), _float(pair[1])
            if row and col and row > 0 and col > 0:
                ratio = row / col
                return ratio if 0.2 <= ratio <= 5.0 else 1.0
    return 1.0


def frame_info(ds: Dataset, *, frame: int, fmt: PixelFormat | None = None) -> FrameInfo:
    fmt = fmt or pixel_format(ds)
    modality = str(_get(ds, "Modality") or "").strip().upper()
    if fmt.photometric == "PALETTE COLOR":
        return FrameInfo(fmt=fmt, palette=palette(ds), pixel_aspect=pixel_aspect(ds, frame=frame), modality=modality)
    if fmt.is_grey or fmt.samples_per_pixel == 3:
        grey = grey_params(ds, frame=frame, fmt=fmt) if fmt.is_grey else GreyParams()
        return FrameInfo(fmt=fmt, grey=grey, pixel_aspect=pixel_aspect(ds, frame=frame), modality=modality)
    raise UnsupportedImage(
        message_en=f"photometric interpretation {fmt.photometric!r} is not supported",
        message_zh=f"不支持的光度解释 {fmt.photometric}",
    )
