"""Compressed copies of the synthetic CT that pydicom cannot encode itself, made with imagecodecs
(bench_previews): JPEG lossless (Process 14) and JPEG baseline (Process 1). Each copy gets its own
series and instance UIDs and says its transfer syntax in the series description.

One loop (`compressed_copy`) writes every copy; what differs per transfer syntax is a `Variant`: the
imagecodecs codec it needs and an encoder that turns a slice's data set into the codestream (adjusting
the pixel-module attributes the new samples need)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DoesNotFit(ValueError):
    """The slice's values cannot be held by this transfer syntax's samples."""


def _jpeg_lossless(ds: Any, codecs: Any) -> bytes:
    """imagecodecs' encoder uses predictor 6, so the transfer syntax is .57 (any predictor), not .70
    (predictor 1 only). It takes unsigned samples: the phantom's stored values (HU + 1024, a little noise
    below 0) are shifted by 1024 and the intercept by -1024 (same HU)."""
    pixels = ds.pixel_array.astype("<i4") + 1024
    if pixels.min() < 0 or pixels.max() > 65535:
        raise DoesNotFit("stored values outside 16-bit unsigned")
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = float(ds.RescaleIntercept) - 1024
    return bytes(codecs.ljpeg_encode(pixels.astype("<u2"), bitspersample=16))


def _jpeg_baseline(ds: Any, codecs: Any) -> bytes:
    """8 bits cannot hold CT's range, so stored = (HU + 1024) / 8, clipped to 0..255, with Rescale Slope
    8 and Intercept -1024 (PS3.3 C.11.1.1.2: HU = 8 * stored - 1024); quality 90, 4:0:0 (one component),
    as some archives keep CT for the web."""
    import numpy as np

    hu = ds.pixel_array.astype("<f4") * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    stored = np.clip(np.rint((hu + 1024) / 8), 0, 255).astype("u1")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.RescaleSlope, ds.RescaleIntercept = 8, -1024
    return bytes(codecs.jpeg8_encode(stored, level=90))


@dataclass(frozen=True, slots=True)
class Variant:
    transfer_syntax: str
    codec: str  # the imagecodecs codec the encoder needs (imagecodecs.<codec>.available)
    encode: Callable[[Any, Any], bytes]
    label: str  # in the series description: bench_previews tells the copies apart by it
    series_number: int
    uid_suffix: str


VARIANTS: dict[str, Variant] = {
    "jpeg_lossless": Variant("1.2.840.10008.1.2.4.57", "LJPEG", _jpeg_lossless, "JPEG Lossless", 9, "57"),
    "jpeg_baseline": Variant("1.2.840.10008.1.2.4.50", "JPEG8", _jpeg_baseline, "JPEG Baseline", 10, "50"),
}


def compressed_copy(paths: list[Path], out: Path, *, variant: str) -> list[Path]:
    """A copy of the series in `variant`'s transfer syntax; [] when its encoder is not installed or a
    slice does not fit its samples."""
    v = VARIANTS[variant]
    try:
        import imagecodecs  # type: ignore[import-not-found,unused-ignore]
        import pydicom
        from pydicom.encaps import encapsulate
    except ImportError:
        return []
    codec = getattr(imagecodecs, v.codec, None)
    if codec is None or not codec.available:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        ds = pydicom.dcmread(path)
        try:
            ds.PixelData = encapsulate([v.encode(ds, imagecodecs)])
        except DoesNotFit:
            return []
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(v.transfer_syntax)
        ds.SeriesInstanceUID = f"{ds.SeriesInstanceUID}.{v.uid_suffix}"
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{v.uid_suffix}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = v.series_number
        ds.SeriesDescription = f"{ds.SeriesDescription} ({v.label})"
        target = out / path.name
        ds.save_as(target, enforce_file_format=True)
        written.append(target)
    return written


def jpeg_baseline_copy(paths: list[Path], out: Path) -> list[Path]:
    """The JPEG baseline copy (tests use it to check the 8-bit decoder)."""
    return compressed_copy(paths, out, variant="jpeg_baseline")
